import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.lang.reflect.RecordComponent;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A JDK-only HTTP service whose warm-up is visible.
 *
 * <p>Startup does what a small framework does (scan and reflect over a few
 * hundred classes, build i18n and lookup tables), so it takes a noticeable
 * fraction of a second. Each request to {@code /work} renders a JSON document
 * through reflection, String.format, regular expressions, BigInteger math and
 * SHA-256, so the first requests are slow (class loading, interpreter) and
 * later ones are fast (JIT-compiled). A JVM restored from a checkpoint taken
 * after warm-up answers fast right away.
 *
 * <p>Endpoints: {@code GET /}, {@code GET /work?n=N}, {@code GET /health}.
 */
public final class Hello {

    /** One row of the rendered document; rendered via reflection. */
    record Item(int id, String name, String sku, BigInteger value, boolean prime, double score) {}

    private static final AtomicLong REQUESTS = new AtomicLong();
    private static final Pattern SKU = Pattern.compile("^[A-Z]{3}-\\d{4}-[0-9a-f]{2}$");
    private static final Pattern WORD = Pattern.compile("\\b(\\w)(\\w*)\\b");
    private static final Pattern QUERY_N = Pattern.compile("(?:^|&)n=(\\d{1,6})(?:&|$)");
    private static final DateTimeFormatter ISO = DateTimeFormatter.ISO_INSTANT.withZone(ZoneOffset.UTC);
    private static final String[] WORDS = {
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
        "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    };

    /** Filled at startup: the "framework" metadata and lookup tables. */
    private static Map<String, Integer> classIndex = Map.of();
    private static Map<String, String> languages = Map.of();
    private static List<BigInteger> primes = List.of();

    public static void main(String[] args) throws IOException {
        int port = 8080;
        String p = System.getenv("PORT");
        if (p != null && !p.isBlank()) {
            port = Integer.parseInt(p.trim());
        }

        initialize();

        HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 128);
        ExecutorService pool = Executors.newFixedThreadPool(8, r -> {
            Thread t = new Thread(r, "hello-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(pool);
        server.createContext("/health", ex -> respond(ex, 200, "text/plain", "ok"));
        server.createContext("/work", Hello::handleWork);
        server.createContext("/vm", Hello::handleVMOption);
        server.createContext("/", Hello::handleRoot);
        server.start();

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("hello: shutting down");
            System.out.flush();
            server.stop(0);
        }, "hello-shutdown"));

        System.out.println("hello: listening on :" + port + " (started in " + uptimeMillis() + " ms)");
        System.out.flush();
    }

    /**
     * GET /vm?option=NAME: the JVM's value of a HotSpot option, as the running
     * JVM itself reports it (e.g. UseAVX under --cpu-baseline); GET
     * /vm?env=NAME: a variable of the environment the JVM started with.
     */
    static void handleVMOption(HttpExchange ex) throws IOException {
        String q = ex.getRequestURI().getQuery();
        if (q != null && q.startsWith("env=")) {
            String var = q.substring("env=".length());
            respond(ex, 200, "text/plain", var + "=" + System.getenv().getOrDefault(var, "") + "\n");
            return;
        }
        String name = q != null && q.startsWith("option=") ? q.substring("option=".length()) : "";
        try {
            var bean = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            respond(ex, 200, "text/plain", name + "=" + bean.getVMOption(name).getValue() + "\n");
        } catch (IllegalArgumentException | NullPointerException e) {
            respond(ex, 404, "text/plain", "no VM option " + name + "\n");
        }
    }

    // ---------------------------------------------------------------- startup

    /** Real (not sleeping) startup work, like a DI framework and i18n setup would do. */
    private static void initialize() {
        classIndex = scanClasses();

        // i18n table: display names of all available locales (loads CLDR data).
        Map<String, String> langs = new TreeMap<>();
        for (Locale l : Locale.getAvailableLocales()) {
            if (!l.getLanguage().isEmpty()) {
                langs.put(l.toLanguageTag(), l.getDisplayName(Locale.ENGLISH) + " / " + l.getDisplayName(l));
            }
        }
        languages = langs;

        // Lookup table of primes used by /work.
        List<BigInteger> ps = new ArrayList<>();
        BigInteger b = BigInteger.valueOf(1_000_003);
        while (ps.size() < 256) {
            b = b.nextProbablePrime();
            ps.add(b);
        }
        primes = ps;
    }

    /**
     * "Classpath scan": enumerate classes of a few java.base packages from the
     * runtime image, load them and count their declared methods, the way a
     * framework scans for components.
     */
    private static Map<String, Integer> scanClasses() {
        Map<String, Integer> index = new TreeMap<>();
        String[] packages = {"java/util", "java/util/concurrent", "java/time", "java/time/format",
            "java/text", "java/util/stream", "java/nio/file", "java/net"};
        List<String> names = new ArrayList<>();
        try {
            FileSystem jrt = FileSystems.getFileSystem(URI.create("jrt:/"));
            for (String pkg : packages) {
                Path dir = jrt.getPath("/modules/java.base", pkg);
                if (!Files.isDirectory(dir)) {
                    continue;
                }
                try (Stream<Path> s = Files.list(dir)) {
                    s.map(x -> dir.relativize(x).toString())
                        .filter(n -> n.endsWith(".class") && !n.equals("module-info.class"))
                        .map(n -> pkg.replace('/', '.') + "." + n.substring(0, n.length() - ".class".length()))
                        .forEach(names::add);
                }
            }
        } catch (Exception | LinkageError e) {
            // No jrt filesystem (unusual runtime image): scan a fixed list instead.
            names = List.of("java.util.HashMap", "java.util.ArrayList", "java.util.TreeMap",
                "java.time.Instant", "java.text.SimpleDateFormat", "java.net.URI");
        }
        ClassLoader loader = ClassLoader.getSystemClassLoader();
        for (String n : names) {
            try {
                Class<?> c = Class.forName(n, false, loader);
                index.put(n, c.getDeclaredMethods().length + c.getDeclaredFields().length);
            } catch (Throwable t) {
                // Not loadable from here (e.g. non-exported or missing dependency): skip.
            }
        }
        return index;
    }

    // --------------------------------------------------------------- handlers

    private static void handleRoot(HttpExchange ex) throws IOException {
        long t0 = System.nanoTime();
        if (!"/".equals(ex.getRequestURI().getPath())) {
            respond(ex, 404, "text/plain", "not found\n");
            return;
        }
        long n = REQUESTS.incrementAndGet();
        String body = "hello from crac-build\n"
            + String.format("requests served: %d, jvm uptime: %d ms%n", n, uptimeMillis());
        respond(ex, 200, "text/plain; charset=utf-8", body);
        logRequest(n, t0);
    }

    private static void handleWork(HttpExchange ex) throws IOException {
        long t0 = System.nanoTime();
        long reqNo = REQUESTS.incrementAndGet();
        int n = 32;
        String q = ex.getRequestURI().getRawQuery();
        if (q != null) {
            Matcher m = QUERY_N.matcher(q);
            if (m.find()) {
                n = Math.max(1, Math.min(5000, Integer.parseInt(m.group(1))));
            }
        }
        String body;
        try {
            body = render(reqNo, n);
        } catch (ReflectiveOperationException | NoSuchAlgorithmException e) {
            respond(ex, 500, "text/plain", "error: " + e + "\n");
            logRequest(reqNo, t0);
            return;
        }
        respond(ex, 200, "application/json", body);
        logRequest(reqNo, t0);
    }

    /** Renders n items as JSON via reflection, formatting, regex and BigInteger math. */
    static String render(long reqNo, int n) throws ReflectiveOperationException, NoSuchAlgorithmException {
        List<Item> items = new ArrayList<>(n);
        BigInteger a = BigInteger.ONE;
        BigInteger b = BigInteger.ONE;
        for (int i = 0; i < n; i++) {
            BigInteger next = a.add(b);
            a = b;
            b = next;
            BigInteger p = primes.get(i % primes.size());
            BigInteger value = b.mod(p).multiply(BigInteger.valueOf(i + 1)).pow(3);
            String name = titleCase(WORDS[i % WORDS.length] + " " + WORDS[(i * 7 + 3) % WORDS.length]);
            String sku = String.format("%s-%04d-%02x", WORDS[i % WORDS.length].substring(0, 3).toUpperCase(Locale.ROOT),
                i % 10000, i & 0xff);
            if (!SKU.matcher(sku).matches()) {
                throw new IllegalStateException("bad sku " + sku);
            }
            boolean prime = value.add(BigInteger.ONE).isProbablePrime(20);
            double score = Math.sqrt(i + 1.0) * Math.log(i + 2.0);
            items.add(new Item(i, name, sku, value, prime, score));
        }

        StringBuilder sb = new StringBuilder(64 + n * 128);
        sb.append("{\"request\":").append(reqNo)
            .append(",\"time\":\"").append(ISO.format(Instant.now())).append('"')
            .append(",\"classes\":").append(classIndex.size())
            .append(",\"languages\":").append(languages.size())
            .append(",\"items\":[");
        RecordComponent[] comps = Item.class.getRecordComponents();
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append('{');
            for (int c = 0; c < comps.length; c++) {
                Method acc = comps[c].getAccessor();
                Object v = acc.invoke(items.get(i));
                if (c > 0) {
                    sb.append(',');
                }
                sb.append('"').append(comps[c].getName()).append("\":");
                if (v instanceof String s) {
                    sb.append('"').append(s.replace("\"", "\\\"")).append('"');
                } else if (v instanceof Double d) {
                    sb.append(String.format(Locale.ROOT, "%.4f", d));
                } else {
                    sb.append(v);
                }
            }
            sb.append('}');
        }
        sb.append(']');
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        byte[] digest = md.digest(sb.toString().getBytes(StandardCharsets.UTF_8));
        sb.append(",\"sha256\":\"").append(HexFormat.of().formatHex(digest)).append("\"}\n");
        return sb.toString();
    }

    private static String titleCase(String s) {
        Matcher m = WORD.matcher(s);
        return m.replaceAll(r -> r.group(1).toUpperCase(Locale.ROOT) + r.group(2));
    }

    // ---------------------------------------------------------------- helpers

    private static void respond(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(bytes);
        }
    }

    private static void logRequest(long n, long t0) {
        double ms = (System.nanoTime() - t0) / 1e6;
        System.out.println(String.format(Locale.ROOT, "hello: request %d took %.2f ms", n, ms));
        System.out.flush();
    }

    /** JVM uptime in ms; falls back to the process start time without java.management. */
    private static long uptimeMillis() {
        try {
            return java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime();
        } catch (LinkageError e) {
            return ProcessHandle.current().info().startInstant()
                .map(s -> System.currentTimeMillis() - s.toEpochMilli())
                .orElse(-1L);
        }
    }

    private Hello() {}
}
