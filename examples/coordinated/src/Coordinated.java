import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.crac.Context;
import org.crac.Core;
import org.crac.Resource;

/**
 * A service that uses the org.crac API the way frameworks do, and knows
 * nothing of crac-build. It registers three resources, in this order:
 *
 * <ol>
 *   <li>server: its HTTP server; beforeCheckpoint closes the listening
 *       socket, afterRestore opens a new one;</li>
 *   <li>log: a log file it appends to; closed before, reopened after;</li>
 *   <li>env: reads the container's environment after a restore.</li>
 * </ol>
 *
 * Every notification is recorded; GET /events lists them, one a line, so a
 * restored JVM shows both the build's beforeCheckpoint calls and its own
 * afterRestore calls.
 *
 * <p>Environment at start: HOST and PORT to listen on (default 0.0.0.0 and
 * 8080); LOG_FILE (default /tmp/coordinated.log); CHECKPOINT_AT_START=1 asks for the
 * checkpoint from main() before the server starts (as Spring's
 * -Dspring.context.checkpoint=onRefresh does); FAIL_BEFORE_CHECKPOINT=1
 * registers a fourth resource whose beforeCheckpoint throws. At run time
 * (read through the crac-build agent after a restore): GREETING is shown
 * by GET /; FAIL_AFTER_RESTORE=1 makes afterRestore of env throw;
 * AFTER_RESTORE_DELAY_MS makes it take that long. GC_TEST=1 adds a Resource
 * the application drops in its beforeCheckpoint and one it never keeps,
 * then runs full GCs (see gcTest).
 */
public final class Coordinated {
    private static final List<String> EVENTS = new ArrayList<>();
    private static final AtomicLong REQUESTS = new AtomicLong();

    private Coordinated() {
    }

    static void event(String e) {
        synchronized (EVENTS) {
            EVENTS.add(e);
        }
        System.out.println("coordinated: " + e);
        System.out.flush();
    }

    /**
     * A variable of the container's environment: after a restore the JVM's
     * own environment is still the build's, and the crac-build agent
     * publishes the container's as crac-build.env.NAME properties.
     */
    static String containerEnv(String name) {
        return System.getProperty("crac-build.env." + name, System.getenv(name));
    }

    static final class ServerResource implements Resource {
        private final String host;
        private final int port;
        private HttpServer server;
        private boolean wasRunning;

        ServerResource(String host, int port) {
            this.host = host;
            this.port = port;
        }

        synchronized void start() throws IOException {
            HttpServer s = HttpServer.create(new InetSocketAddress(host, port), 0);
            s.createContext("/health", x -> reply(x, 200, "ok\n"));
            s.createContext("/events", x -> {
                StringBuilder b = new StringBuilder();
                synchronized (EVENTS) {
                    for (String e : EVENTS) {
                        b.append(e).append('\n');
                    }
                }
                reply(x, 200, b.toString());
            });
            s.createContext("/", x -> {
                long n = REQUESTS.incrementAndGet();
                LOG.write("request " + n);
                reply(x, 200, "coordinated: requests served " + n + ", greeting " + containerEnv("GREETING") + "\n");
            });
            s.start();
            server = s;
            System.out.println("coordinated: listening on :" + port);
            System.out.flush();
        }

        @Override
        public synchronized void beforeCheckpoint(Context<? extends Resource> context) {
            event("beforeCheckpoint server");
            wasRunning = server != null;
            if (server != null) {
                server.stop(0);
                server = null;
            }
        }

        @Override
        public synchronized void afterRestore(Context<? extends Resource> context) throws IOException {
            event("afterRestore server");
            if (wasRunning) {
                start();
            }
        }
    }

    static final class LogResource implements Resource {
        private final String path;
        private OutputStream out;

        LogResource(String path) {
            this.path = path;
        }

        synchronized void open() throws IOException {
            out = new FileOutputStream(path, true);
        }

        synchronized void write(String line) {
            if (out == null) {
                return;
            }
            try {
                out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                System.err.println("coordinated: writing " + path + ": " + e);
            }
        }

        @Override
        public synchronized void beforeCheckpoint(Context<? extends Resource> context) throws IOException {
            event("beforeCheckpoint log");
            write("checkpoint");
            out.close();
            out = null;
        }

        @Override
        public synchronized void afterRestore(Context<? extends Resource> context) throws IOException {
            event("afterRestore log");
            open();
            write("restored");
        }
    }

    static final class EnvResource implements Resource {
        @Override
        public void beforeCheckpoint(Context<? extends Resource> context) {
            event("beforeCheckpoint env");
        }

        @Override
        public void afterRestore(Context<? extends Resource> context) throws InterruptedException {
            event("afterRestore env GREETING=" + containerEnv("GREETING") + " getenv=" + System.getenv("GREETING"));
            String delay = containerEnv("AFTER_RESTORE_DELAY_MS");
            if (delay != null) {
                Thread.sleep(Long.parseLong(delay));
            }
            if ("1".equals(containerEnv("FAIL_AFTER_RESTORE"))) {
                throw new IllegalStateException("afterRestore fails because FAIL_AFTER_RESTORE=1");
            }
        }
    }

    static final class FailingResource implements Resource {
        @Override
        public void beforeCheckpoint(Context<? extends Resource> context) throws IOException {
            event("beforeCheckpoint failing");
            throw new IOException("FailingResource cannot be checkpointed (FAIL_BEFORE_CHECKPOINT=1)");
        }

        @Override
        public void afterRestore(Context<? extends Resource> context) {
            event("afterRestore failing");
        }

        @Override
        public String toString() {
            return "FailingResource";
        }
    }

    /**
     * A Resource the application keeps only until its beforeCheckpoint
     * (a task that finishes at the checkpoint, say): org.crac still owes
     * it afterRestore, though a full GC comes before every checkpoint.
     */
    static final class OneShotResource implements Resource {
        @Override
        public void beforeCheckpoint(Context<? extends Resource> context) {
            event("beforeCheckpoint one-shot");
            ONE_SHOT = null;
        }

        @Override
        public void afterRestore(Context<? extends Resource> context) {
            event("afterRestore one-shot");
        }
    }

    /** A Resource nothing references: collected, never notified. */
    static final class UnreferencedResource implements Resource {
        @Override
        public void beforeCheckpoint(Context<? extends Resource> context) {
            event("beforeCheckpoint unreferenced");
        }

        @Override
        public void afterRestore(Context<? extends Resource> context) {
            event("afterRestore unreferenced");
        }
    }

    // The resources must stay reachable: the global context holds them weakly.
    static LogResource LOG;
    static ServerResource SERVER;
    static EnvResource ENV;
    static FailingResource FAILING;
    static OneShotResource ONE_SHOT;

    /**
     * GC_TEST=1: registers a OneShotResource and an UnreferencedResource,
     * then runs full GCs until the unreferenced one is gone (at most 10),
     * and says so: the Resources the application keeps must still be
     * notified.
     */
    static void gcTest() throws InterruptedException {
        ONE_SHOT = new OneShotResource();
        Core.getGlobalContext().register(ONE_SHOT);
        UnreferencedResource u = new UnreferencedResource();
        java.lang.ref.WeakReference<Resource> gone = new java.lang.ref.WeakReference<>(u);
        Core.getGlobalContext().register(u);
        u = null;
        int gcs = 0;
        while (gone.get() != null && gcs < 10) {
            System.gc();
            gcs++;
            Thread.sleep(20);
        }
        event("full GCs: " + gcs + ", unreferenced resource collected: " + (gone.get() == null));
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        SERVER = new ServerResource(System.getenv().getOrDefault("HOST", "0.0.0.0"), port);
        LOG = new LogResource(System.getenv().getOrDefault("LOG_FILE", "/tmp/coordinated.log"));
        ENV = new EnvResource();
        LOG.open();
        Core.getGlobalContext().register(SERVER);
        Core.getGlobalContext().register(LOG);
        Core.getGlobalContext().register(ENV);
        if ("1".equals(System.getenv("FAIL_BEFORE_CHECKPOINT"))) {
            FAILING = new FailingResource();
            Core.getGlobalContext().register(FAILING);
        }
        if ("1".equals(System.getenv("GC_TEST"))) {
            gcTest();
        }
        if ("1".equals(System.getenv("CHECKPOINT_AT_START"))) {
            event("checkpointRestore requested");
            Core.checkpointRestore();
            event("checkpointRestore returned GREETING=" + containerEnv("GREETING"));
        }
        SERVER.start();
    }

    static void reply(HttpExchange x, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        x.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        x.sendResponseHeaders(status, b.length);
        try (OutputStream o = x.getResponseBody()) {
            o.write(b);
        }
    }
}
