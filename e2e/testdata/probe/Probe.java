import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.io.Reader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The end-to-end tests' application: what goes into a checkpoint.
 *
 * <p>SECRET_MODE=keep reads /run/secrets/$SECRET_ID and keeps it in a field (a
 * leak the build must refuse); SECRET_MODE=use reads it, uses it (keeps only
 * a hash of it) and wipes every copy (the build must pass). GET /random prints
 * what each JDK source of randomness gives now, so that two containers
 * restored from one image can be compared. GET /connect?port=N opens a TCP
 * connection to 127.0.0.1:N and keeps it. The restore notice of crac-build is
 * handled the supported way: the file's id is checked before use, and SIGUSR1
 * (when the image asks for it) re-seeds at once.
 */
public final class Probe {
    // Sources of randomness made (and used) before the checkpoint.
    static final Random RANDOM = new Random();
    static final SecureRandom NATIVE = new SecureRandom();
    static final SecureRandom SHA1PRNG;
    static final SecureRandom DRBG;
    static final SplittableRandom SPLITTABLE = new SplittableRandom();
    static final String STARTUP_UUID = UUID.randomUUID().toString();
    /** One thread, made before the checkpoint: thread-local state is the same in every copy. */
    static final ExecutorService ONE = Executors.newSingleThreadExecutor();
    /** A well-known token format (AWS's documented example key) the built-in scan reports. */
    static final String FAKE_AWS_KEY = new String("AKIAIOSFODNN7EXAMPLE".toCharArray());

    static volatile String keptSecret;
    static volatile String secretDigest = "none";
    static volatile Socket connection;

    // The supported way out: re-seed when the restore id changes.
    static final Path RESTORED = Path.of("/run/crac-build/restored");
    static volatile String seenRestoreId;
    static volatile Random reseeded = new Random(1);
    static final AtomicInteger SIGNALS = new AtomicInteger();

    static {
        try {
            SHA1PRNG = SecureRandom.getInstance("SHA1PRNG");
            DRBG = SecureRandom.getInstance("DRBG");
        } catch (Exception e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(Objects.requireNonNullElse(System.getenv("PORT"), "8080"));
        handleSecret(System.getenv("SECRET_MODE"), Objects.requireNonNullElse(System.getenv("SECRET_ID"), "token"));

        // Use every source once, as a warm application would have.
        RANDOM.nextLong();
        NATIVE.nextLong();
        SHA1PRNG.nextLong();
        DRBG.nextLong();
        SPLITTABLE.nextLong();
        Math.random();
        ONE.submit(() -> ThreadLocalRandom.current().nextLong()).get();

        sun.misc.Signal.handle(new sun.misc.Signal("USR1"), s -> {
            SIGNALS.incrementAndGet();
            reseed(readRestoreId());
        });

        HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 64);
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.createContext("/health", ex -> respond(ex, "ok\n"));
        server.createContext("/random", ex -> {
            try {
                respond(ex, ONE.submit(Probe::randomValues).get());
            } catch (Exception e) {
                respond(ex, "error " + e + "\n");
            }
        });
        server.createContext("/connect", ex -> {
            String q = ex.getRequestURI().getQuery();
            int peer = Integer.parseInt(q.substring(q.indexOf('=') + 1));
            connection = new Socket("127.0.0.1", peer);
            respond(ex, "connected to " + peer + "\n");
        });
        server.start();
        System.out.println("probe: listening on " + port + ", secret digest " + secretDigest + ", " + FAKE_AWS_KEY.length());
    }

    static void handleSecret(String mode, String id) throws IOException {
        // At run time (a cold start) the secret is the runtime's to give.
        if (mode == null || mode.isEmpty() || !Files.exists(Path.of("/run/secrets", id))) {
            return;
        }
        byte[] value = readWiping(Path.of("/run/secrets", id));
        // "Using" it without a copy: an FNV-1a hash in place. (A SHA-256
        // MessageDigest is no good here: it keeps the last partial block of
        // its input after digest(), and the build's scan found it there.)
        long h = 0xcbf29ce484222325L;
        for (byte b : value) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        secretDigest = Long.toHexString(h);
        if (mode.equals("keep")) {
            keptSecret = new String(value, StandardCharsets.UTF_8).trim();
        }
        Arrays.fill(value, (byte) 0);
    }

    /**
     * Reads a file without leaving copies behind: straight into a direct
     * buffer (no JDK temporary buffer, no native stack buffer), which is
     * wiped once its content is copied out.
     */
    static byte[] readWiping(Path p) throws IOException {
        try (FileChannel ch = FileChannel.open(p)) {
            ByteBuffer buf = ByteBuffer.allocateDirect((int) ch.size());
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // read on
            }
            buf.flip();
            byte[] out = new byte[buf.remaining()];
            buf.get(out);
            buf.clear();
            while (buf.hasRemaining()) {
                buf.put((byte) 0);
            }
            return out;
        }
    }

    static String readRestoreId() {
        try (Reader r = Files.newBufferedReader(RESTORED)) {
            Properties p = new Properties();
            p.load(r);
            return p.getProperty("id");
        } catch (IOException e) {
            return null; // cold start, or never restored
        }
    }

    static synchronized void reseed(String id) {
        if (!Objects.equals(id, seenRestoreId)) {
            seenRestoreId = id;
            reseeded = new Random(new SecureRandom().nextLong());
        }
    }

    static String randomValues() {
        reseed(readRestoreId());
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("random", RANDOM.nextLong());
        v.put("mathRandom", Math.random());
        v.put("threadLocalRandom", ThreadLocalRandom.current().nextLong());
        long[] fresh = new long[1];
        Thread t = new Thread(() -> fresh[0] = ThreadLocalRandom.current().nextLong());
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        v.put("threadLocalRandomNewThread", fresh[0]);
        v.put("splittableRandom", SPLITTABLE.nextLong());
        v.put("newSplittableRandom", new SplittableRandom().nextLong());
        v.put("sha1prng", SHA1PRNG.nextLong());
        v.put("drbg", DRBG.nextLong());
        v.put("nativePRNG", NATIVE.nextLong());
        v.put("newSecureRandom", new SecureRandom().nextLong());
        v.put("randomUUID", UUID.randomUUID());
        v.put("newRandom", new Random().nextLong());
        v.put("startupUUID", STARTUP_UUID);
        v.put("identityHashCode", System.identityHashCode(new Object()));
        v.put("restoreId", Objects.requireNonNullElse(seenRestoreId, "none"));
        v.put("reseededRandom", reseeded.nextLong());
        v.put("signals", SIGNALS.get());
        StringBuilder sb = new StringBuilder();
        v.forEach((k, x) -> sb.append(k).append('=').append(x).append('\n'));
        return sb.toString();
    }

    static void respond(HttpExchange ex, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }

    private Probe() {}
}
