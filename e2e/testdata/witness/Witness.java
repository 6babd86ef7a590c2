import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Timer;
import java.util.TimerTask;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A JDK-only service that reports what a restored process experiences, for
 * the end-to-end tests of the launcher: its clocks and timers across the
 * checkpoint, its environment, its exit, signals, children and output.
 *
 * <p>{@code /clock} reports the largest step between two consecutive
 * readings of {@code System.currentTimeMillis()} (taken every 10 ms, so
 * the checkpoint shows up as one step, the time it spent in the image),
 * the step of {@code System.nanoTime()} at the same moment, any backward
 * step of {@code nanoTime}, and how many times two fixed-rate timers ran
 * before and after: a {@code ScheduledExecutorService} (monotonic clock)
 * and a {@code java.util.Timer} (wall clock), both every 100 ms.
 */
public final class Witness {
    static final long PERIOD_MS = 100;
    static final long START_NANOS = System.nanoTime();
    static final long START_MILLIS = System.currentTimeMillis();
    static final AtomicLong SCHEDULED = new AtomicLong();
    static final AtomicLong TIMER = new AtomicLong();

    // Written by the sampler thread only.
    static volatile long backwardSteps, maxBackwardNanos;
    static volatile long wallStepMillis, nanoStepAtWallStep, nanosAtWallStep, millisAtWallStep;
    static volatile long scheduledBeforeWallStep, timerBeforeWallStep;
    static volatile boolean hangOnShutdown;

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));

        Thread sampler = new Thread(Witness::sample, "witness-sampler");
        sampler.setDaemon(true);
        sampler.start();
        ScheduledExecutorService ses = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "witness-scheduled");
            t.setDaemon(true);
            return t;
        });
        ses.scheduleAtFixedRate(SCHEDULED::incrementAndGet, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
        new Timer("witness-timer", true).scheduleAtFixedRate(new TimerTask() {
            @Override
            public void run() {
                TIMER.incrementAndGet();
            }
        }, PERIOD_MS, PERIOD_MS);

        HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 128);
        server.setExecutor(Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "witness-http");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/health", ex -> respond(ex, "ok\n"));
        server.createContext("/clock", ex -> respond(ex, clock()));
        server.createContext("/env", ex -> {
            String v = System.getenv(query(ex));
            respond(ex, v == null ? "(unset)\n" : v + "\n");
        });
        server.createContext("/exit", ex -> {
            int code = Integer.parseInt(query(ex));
            respond(ex, "exiting with " + code + "\n");
            new Thread(() -> {
                sleep(100);
                System.exit(code);
            }).start();
        });
        server.createContext("/hang-on-term", ex -> {
            hangOnShutdown = true;
            respond(ex, "the shutdown hook will hang\n");
        });
        server.createContext("/orphan", ex -> {
            // sh exits at once; its background sleep is orphaned and
            // re-parented to PID 1, which must reap it when it ends.
            try {
                new ProcessBuilder("sh", "-c", "sleep " + query(ex) + " & exit 0").inheritIO().start().waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            respond(ex, "orphaned a sleep\n");
        });
        server.createContext("/print", ex -> {
            int n = Integer.parseInt(query(ex));
            for (int i = 0; i < n; i++) {
                System.out.println("witness: out " + i);
                System.out.flush();
                System.err.println("witness: err " + i);
                System.err.flush();
            }
            respond(ex, "printed " + n + "\n");
        });
        server.start();

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("witness: shutdown hook ran");
            System.out.flush();
            if (hangOnShutdown) {
                sleep(3_600_000);
            }
        }, "witness-shutdown"));
        System.out.println("witness: listening on :" + port);
        System.out.flush();
    }

    static void sample() {
        long prevNanos = System.nanoTime();
        long prevMillis = System.currentTimeMillis();
        long prevScheduled = 0, prevTimer = 0;
        while (true) {
            sleep(10);
            long n = System.nanoTime();
            long w = System.currentTimeMillis();
            long step = n - prevNanos;
            if (step < 0) {
                backwardSteps++;
                maxBackwardNanos = Math.max(maxBackwardNanos, -step);
            }
            if (w - prevMillis > wallStepMillis) {
                wallStepMillis = w - prevMillis;
                nanoStepAtWallStep = step;
                nanosAtWallStep = n - START_NANOS;
                millisAtWallStep = w - START_MILLIS;
                scheduledBeforeWallStep = prevScheduled;
                timerBeforeWallStep = prevTimer;
            }
            prevNanos = n;
            prevMillis = w;
            prevScheduled = SCHEDULED.get();
            prevTimer = TIMER.get();
        }
    }

    static String clock() {
        return "nanos=" + (System.nanoTime() - START_NANOS) + "\n"
            + "millis=" + (System.currentTimeMillis() - START_MILLIS) + "\n"
            + "scheduled=" + SCHEDULED.get() + "\n"
            + "timer=" + TIMER.get() + "\n"
            + "backwardSteps=" + backwardSteps + "\n"
            + "maxBackwardNanos=" + maxBackwardNanos + "\n"
            + "wallStepMillis=" + wallStepMillis + "\n"
            + "nanoStepAtWallStep=" + nanoStepAtWallStep + "\n"
            + "nanosAtWallStep=" + nanosAtWallStep + "\n"
            + "millisAtWallStep=" + millisAtWallStep + "\n"
            + "scheduledBeforeWallStep=" + scheduledBeforeWallStep + "\n"
            + "timerBeforeWallStep=" + timerBeforeWallStep + "\n"
            + "periodMillis=" + PERIOD_MS + "\n";
    }

    static String query(HttpExchange ex) {
        String q = ex.getRequestURI().getRawQuery();
        return q == null ? "" : q;
    }

    static void respond(HttpExchange ex, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private Witness() {}
}
