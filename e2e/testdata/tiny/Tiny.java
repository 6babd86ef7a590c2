import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The matrix test's application: the smallest HTTP service that still
 * allocates, so that every collector has work before the checkpoint.
 *
 * <p>{@code GET /} answers "tiny requests=N gc=NAMES cpus=C maxheap=BYTES":
 * the count shows that a restored JVM carries on from the warmup, the
 * collector's MXBean names which collector runs, and the processor count
 * and maximum heap what the JVM sized itself for. {@code GET /health}
 * answers "ok".
 */
public final class Tiny {
    private static final AtomicLong REQUESTS = new AtomicLong();

    public static void main(String[] args) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", 8080), 64);
        server.createContext("/health", x -> reply(x, "ok"));
        server.createContext("/", Tiny::root);
        server.setExecutor(Executors.newFixedThreadPool(2));
        server.start();
        System.out.println("tiny: listening on 8080");
    }

    private static void root(HttpExchange x) throws IOException {
        long n = REQUESTS.incrementAndGet();
        // Garbage: ~1 MB of short-lived strings per request.
        List<String> junk = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            junk.add(("request " + n + " item " + i).repeat(20));
        }
        StringBuilder gcs = new StringBuilder();
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gcs.length() > 0) {
                gcs.append(',');
            }
            gcs.append(gc.getName().replace(' ', '_'));
        }
        Runtime rt = Runtime.getRuntime();
        reply(x, "tiny requests=" + n + " gc=" + gcs + " cpus=" + rt.availableProcessors()
                + " maxheap=" + rt.maxMemory() + " junk=" + junk.size());
    }

    private static void reply(HttpExchange x, String body) throws IOException {
        byte[] b = (body + "\n").getBytes(StandardCharsets.UTF_8);
        x.getResponseHeaders().set("Content-Type", "text/plain");
        x.sendResponseHeaders(200, b.length);
        try (OutputStream out = x.getResponseBody()) {
            out.write(b);
        }
    }
}
