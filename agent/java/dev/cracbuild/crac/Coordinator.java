package dev.cracbuild.crac;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The checkpoint state of this JVM, shared by the builder's requests (on
 * the control thread) and the application's checkpointRestore() calls.
 *
 * <pre>
 * IDLE --CHECKPOINT or checkpointRestore()--&gt; PREPARING --ok--&gt; PREPARED --RESTORE--&gt; RESTORED
 *                                                 \--a resource failed--&gt; IDLE
 * </pre>
 *
 * In PREPARED every resource has run beforeCheckpoint and the JVM waits to
 * be dumped. Once RESTORED, no further checkpoint can be taken.
 */
final class Coordinator {
    private enum State { IDLE, PREPARING, PREPARED, RESTORED }

    private static volatile Coordinator instance = new Coordinator(null, 0);

    static Coordinator get() {
        return instance;
    }

    /** Build mode: a builder may checkpoint this JVM; markers go to dir. */
    static Coordinator startBuild(Path dir, long pid) {
        Coordinator c = new Coordinator(dir, pid);
        instance = c;
        return c;
    }

    private final Path dir; // null: not in a build
    private final long pid;

    // Guarded by this.
    private State state = State.IDLE;
    private boolean appOwned; // the checkpoint in progress is an app's checkpointRestore()
    private List<GlobalContext.Entry> notified = Collections.emptyList();
    private Map<String, String> restoreEnv; // set at RESTORE
    private String appResult; // the app thread's afterRestore report ("" when fine)
    private boolean restoreDone;

    private Coordinator(Path dir, long pid) {
        this.dir = dir;
        this.pid = pid;
    }

    synchronized Map<String, String> restoreEnvironment() {
        return restoreEnv;
    }

    /** The builder's CHECKPOINT: run beforeCheckpoint unless the app already did. */
    String checkpoint() {
        synchronized (this) {
            awaitNot(State.PREPARING);
            switch (state) {
                case PREPARED:
                    return "OK " + notified.size();
                case RESTORED:
                    return "ERROR\nthis JVM was restored already; it cannot be checkpointed again\n";
                default:
                    state = State.PREPARING;
                    appOwned = false;
            }
        }
        List<GlobalContext.Entry> n = new ArrayList<>();
        List<Failure> failures = GlobalContext.INSTANCE.notifyBefore(n);
        if (!failures.isEmpty()) {
            // As after any failed checkpoint, the resources notified so far
            // get afterRestore and the JVM goes on.
            List<Failure> after = GlobalContext.INSTANCE.notifyAfter(n);
            synchronized (this) {
                state = State.IDLE;
                notifyAll();
            }
            return "ERROR\n" + Failure.report(failures) + Failure.report(after);
        }
        synchronized (this) {
            notified = n;
            state = State.PREPARED;
            notifyAll();
        }
        holdUntilRestored();
        return "OK " + n.size();
    }

    /** The launcher's RESTORE: run afterRestore, in the app's thread if it asked for the checkpoint. */
    String restore(Map<String, String> env) {
        List<GlobalContext.Entry> n;
        synchronized (this) {
            if (state != State.PREPARED) {
                return "ERROR\nthis JVM was not prepared for a checkpoint (state " + state + ")\n";
            }
            setEnvProperties(env);
            state = State.RESTORED;
            restoreEnv = Collections.unmodifiableMap(new LinkedHashMap<>(env));
            n = notified;
            notified = Collections.emptyList();
            notifyAll();
            if (appOwned) {
                boolean interrupted = false;
                while (appResult == null) {
                    interrupted |= waitOnce();
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
                return appResult.isEmpty() ? "OK " + n.size() : "ERROR\n" + appResult;
            }
        }
        List<Failure> failures = GlobalContext.INSTANCE.notifyAfter(n);
        synchronized (this) {
            restoreDone = true;
            notifyAll();
        }
        return failures.isEmpty() ? "OK " + n.size() : "ERROR\n" + Failure.report(failures);
    }

    /** Core.checkpointRestore(). */
    void checkpointRestore() throws CheckpointException, RestoreException {
        if (dir == null) {
            return; // not in a build: nobody takes checkpoints (see Core)
        }
        synchronized (this) {
            awaitNot(State.PREPARING);
            if (state == State.RESTORED) {
                return;
            }
            if (state == State.PREPARED) {
                // The builder is taking a checkpoint: return once restored.
                boolean interrupted = false;
                while (!restoreDone) {
                    interrupted |= waitOnce();
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
                return;
            }
            state = State.PREPARING;
            appOwned = true;
        }
        List<GlobalContext.Entry> n = new ArrayList<>();
        List<Failure> failures = GlobalContext.INSTANCE.notifyBefore(n);
        if (!failures.isEmpty()) {
            List<Failure> all = new ArrayList<>(failures);
            all.addAll(GlobalContext.INSTANCE.notifyAfter(n));
            synchronized (this) {
                state = State.IDLE;
                appOwned = false;
                notifyAll();
            }
            marker("failed\n" + Failure.report(all));
            awaitAck();
            throw Failure.checkpointException(failures);
        }
        synchronized (this) {
            notified = n;
            state = State.PREPARED;
            notifyAll();
        }
        holdUntilRestored();
        marker("ready\n");
        synchronized (this) {
            boolean interrupted = false;
            while (state != State.RESTORED) {
                interrupted |= waitOnce();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        // Like CRaC, afterRestore runs in the thread that asked.
        List<Failure> after = GlobalContext.INSTANCE.notifyAfter(n);
        synchronized (this) {
            appResult = Failure.report(after);
            restoreDone = true;
            notifyAll();
        }
        if (!after.isEmpty()) {
            throw Failure.restoreException(after);
        }
    }

    /**
     * Keeps the JVM alive from PREPARED until the restore is done. The
     * resources may have stopped every non-daemon thread (an HTTP server's
     * dispatcher, say), and the JVM would then exit before the builder
     * dumps it. (A CRaC JDK checkpoints inside the notifying call, where
     * this cannot happen.)
     */
    private void holdUntilRestored() {
        Thread t = new Thread(() -> {
            synchronized (this) {
                while (!restoreDone) {
                    waitOnce(); // nobody interrupts this thread; if so, it keeps waiting
                }
            }
        }, "crac-build-checkpoint-hold");
        t.setDaemon(false);
        t.start();
    }

    private void awaitNot(State s) {
        boolean interrupted = false;
        while (state == s) {
            interrupted |= waitOnce();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Waits on this once and reports whether it was interrupted: a
     * checkpoint cannot be abandoned half-way, so callers keep waiting and
     * set the interrupt flag again when done.
     */
    private boolean waitOnce() {
        try {
            wait();
            return false;
        } catch (InterruptedException e) {
            return true;
        }
    }

    /**
     * Tells the builder about an application's request: PID.request holds
     * "ready" (the JVM may be dumped) or "failed" and the report.
     */
    private void marker(String content) {
        Path f = dir.resolve(pid + ".request");
        Path tmp = dir.resolve(pid + ".request.tmp");
        try {
            Files.write(tmp, content.getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            System.err.println("crac-build agent: cannot tell the builder about the checkpoint request: " + e);
        }
    }

    /**
     * Waits (up to ACK_WAIT_MS) for the builder to remove a "failed"
     * marker. The application may exit on the CheckpointException, and its
     * container, marker and all, would go with it before the builder read
     * why the build fails.
     */
    private void awaitAck() {
        Path f = dir.resolve(pid + ".request");
        long end = System.nanoTime() + ACK_WAIT_MS * 1_000_000L;
        while (Files.exists(f) && System.nanoTime() < end) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The builder polls for requests every 50 ms; 10 s is ample on a loaded machine. */
    private static final long ACK_WAIT_MS = 10_000;

    private static final Set<String> envProperties = new HashSet<>();

    /** Publishes the container's environment as crac-build.env.NAME properties. */
    private static void setEnvProperties(Map<String, String> env) {
        synchronized (envProperties) {
            for (String k : envProperties) {
                if (!env.containsKey(k)) {
                    System.clearProperty(Core.ENV_PROPERTY_PREFIX + k);
                }
            }
            envProperties.clear();
            for (Map.Entry<String, String> e : env.entrySet()) {
                System.setProperty(Core.ENV_PROPERTY_PREFIX + e.getKey(), e.getValue());
                envProperties.add(e.getKey());
            }
            System.setProperty(Core.RESTORED_PROPERTY, "true");
        }
    }
}
