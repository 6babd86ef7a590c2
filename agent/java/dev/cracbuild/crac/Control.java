package dev.cracbuild.crac;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The control channel in build mode: a listening socket that the builder
 * (before the dump) and the launcher (after the restore) connect to.
 *
 * <p>Why a listening socket: the JVM waits on it in accept(), and CRIU
 * restores a listening socket, while it cannot restore a connection to a
 * process outside the dumped tree. So no connection is open at dump time,
 * and the launcher of a fresh container reaches the restored JVM at the
 * same address. A Unix socket (PID.sock; JDK 16+) is reachable only by
 * root and the JVM's user and takes no port; on JDK 11-15, which have no
 * Unix sockets in java.nio, a TCP listener on 127.0.0.1 (its address in
 * PID.tcp) takes its place.
 *
 * <p>Protocol: the client sends one request and closes its writing side;
 * the agent answers and closes. Requests: "CHECKPOINT\n", and "RESTORE\n"
 * followed by the container's environment as NUL-terminated NAME=VALUE
 * entries (like /proc/PID/environ). Answers: "OK N\n" (N resources were
 * notified) or "ERROR\n" followed by the report (each failing resource
 * and its stack trace). After a RESTORE the agent closes the channel: a
 * restored JVM listens on nothing of crac-build's.
 */
final class Control implements Runnable {
    /** Bound on a request: the environment of a container is far smaller. */
    private static final int MAX_REQUEST = 16 << 20;

    private final Coordinator coordinator;
    private final ServerSocketChannel server;
    private final Path file;

    private Control(Coordinator coordinator, ServerSocketChannel server, Path file) {
        this.coordinator = coordinator;
        this.server = server;
        this.file = file;
    }

    static void start(Coordinator coordinator, Path dir, long pid, boolean tcp) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        ServerSocketChannel server = null;
        Path file = null;
        if (!tcp) {
            file = dir.resolve(pid + ".sock");
            server = openUnix(file);
        }
        if (server == null) {
            server = ServerSocketChannel.open();
            server.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            file = dir.resolve(pid + ".tcp");
            Path tmp = dir.resolve(pid + ".tcp.tmp");
            Files.write(tmp, ("127.0.0.1:" + port + "\n").getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        Control c = new Control(coordinator, server, file);
        Thread t = new Thread(c, "crac-build-agent");
        t.setDaemon(true);
        t.start();
        Runtime.getRuntime().addShutdownHook(new Thread(c::close, "crac-build-agent-cleanup"));
    }

    /** A Unix listener at path, or null if this JDK has none (before 16). */
    private static ServerSocketChannel openUnix(Path path) throws IOException {
        SocketAddress addr;
        ServerSocketChannel ch;
        try {
            ProtocolFamily unix = StandardProtocolFamily.valueOf("UNIX");
            addr = (SocketAddress) Class.forName("java.net.UnixDomainSocketAddress")
                    .getMethod("of", Path.class).invoke(null, path);
            ch = (ServerSocketChannel) ServerSocketChannel.class
                    .getMethod("open", ProtocolFamily.class).invoke(null, unix);
        } catch (IllegalArgumentException | ReflectiveOperationException e) {
            if (e instanceof InvocationTargetException && e.getCause() instanceof IOException) {
                throw (IOException) e.getCause();
            }
            return null;
        }
        // A socket file left by an earlier JVM with this PID.
        Files.deleteIfExists(path);
        try {
            ch.bind(addr);
        } catch (IOException e) {
            ch.close();
            throw new IOException("binding " + path + ": " + e, e);
        }
        return ch;
    }

    @Override
    public void run() {
        try {
            while (server.isOpen()) {
                try (SocketChannel ch = server.accept()) {
                    if (handle(ch)) {
                        return;
                    }
                } catch (IOException e) {
                    if (!server.isOpen()) {
                        return;
                    }
                    System.err.println("crac-build agent: control request failed: " + e);
                }
                if (coordinator.restoreEnvironment() != null) {
                    return; // restored, even if the launcher gave up waiting
                }
            }
        } finally {
            close();
        }
    }

    /** Serves one request; true once the JVM has been restored. */
    private boolean handle(SocketChannel ch) throws IOException {
        byte[] req = readAll(ch);
        int nl = indexOf(req, (byte) '\n', 0);
        String cmd = new String(req, 0, nl < 0 ? req.length : nl, StandardCharsets.UTF_8).trim();
        String reply;
        boolean done = false;
        switch (cmd) {
            case "CHECKPOINT":
                reply = notifying(coordinator::checkpoint);
                break;
            case "RESTORE":
                Map<String, String> env = parseEnv(req, nl + 1);
                reply = notifying(() -> coordinator.restore(env));
                done = coordinator.restoreEnvironment() != null;
                break;
            default:
                reply = "ERROR\nunknown request \"" + cmd + "\" (known: CHECKPOINT, RESTORE)\n";
        }
        if (!reply.endsWith("\n")) {
            reply += "\n";
        }
        ByteBuffer out = ByteBuffer.wrap(reply.getBytes(StandardCharsets.UTF_8));
        while (out.hasRemaining()) {
            ch.write(out);
        }
        return done;
    }

    /**
     * Runs a notification in a new non-daemon thread and waits for it.
     * Threads that resources start (an HTTP server reopened in afterRestore)
     * inherit daemon status from the thread that creates them; started
     * from this daemon thread they would not keep the JVM alive.
     */
    private static String notifying(Supplier<String> f) {
        String[] reply = new String[1];
        Thread t = new Thread(() -> reply[0] = f.get(), "crac-build-notify");
        t.setDaemon(false);
        t.start();
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return reply[0] != null ? reply[0] : "ERROR\nthe notifying thread ended without an answer (see the JVM's stderr)\n";
    }

    private static byte[] readAll(SocketChannel ch) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(8192);
        while (ch.read(buf) >= 0) {
            b.write(buf.array(), 0, buf.position());
            buf.clear();
            if (b.size() > MAX_REQUEST) {
                throw new IOException("request larger than " + MAX_REQUEST + " bytes");
            }
        }
        return b.toByteArray();
    }

    /** NUL-terminated NAME=VALUE entries from off on. */
    static Map<String, String> parseEnv(byte[] b, int off) {
        Map<String, String> env = new LinkedHashMap<>();
        int i = Math.max(off, 0);
        while (i < b.length) {
            int end = indexOf(b, (byte) 0, i);
            if (end < 0) {
                end = b.length;
            }
            String kv = new String(b, i, end - i, StandardCharsets.UTF_8);
            int eq = kv.indexOf('=');
            if (eq > 0) {
                env.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
            i = end + 1;
        }
        return env;
    }

    private static int indexOf(byte[] b, byte x, int from) {
        for (int i = from; i < b.length; i++) {
            if (b[i] == x) {
                return i;
            }
        }
        return -1;
    }

    private void close() {
        try {
            server.close();
        } catch (IOException e) {
            // closing a listener: nothing to do about it
        }
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // a tmpfs file of a JVM that goes away
        }
    }
}
