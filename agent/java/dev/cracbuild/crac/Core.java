package dev.cracbuild.crac;

import java.util.Map;

/**
 * The entry point the {@code org.crac} facade looks up (through the system
 * property {@code org.crac.Core.Compat}, which the agent sets to this
 * package).
 */
public final class Core {
    /**
     * System property prefix under which, after a restore, every variable of
     * the container's environment appears: {@code crac-build.env.DB_URL}.
     * {@link System#getenv()} keeps showing the build's environment, which
     * the JVM was checkpointed with.
     */
    public static final String ENV_PROPERTY_PREFIX = "crac-build.env.";

    /** System property set to {@code true} once the JVM has been restored. */
    public static final String RESTORED_PROPERTY = "crac-build.restored";

    private Core() {
    }

    /**
     * The global context, in which the {@code org.crac} facade registers
     * the application's resources.
     *
     * @return the global context
     */
    public static Context<Resource> getGlobalContext() {
        return GlobalContext.INSTANCE;
    }

    /**
     * Asks crac-build for a checkpoint and returns in the restored JVM,
     * after every resource's afterRestore has run (in this thread).
     *
     * <p>Inside a crac-build build the builder checkpoints the JVM while
     * this call waits. Anywhere else (a cold start of the image, a JVM that
     * was already restored once) there is nobody to take a checkpoint: the
     * call returns at once and notifies no resource, so that an application
     * which asks for a checkpoint while it starts still starts.
     *
     * @throws CheckpointException if a resource's beforeCheckpoint threw;
     *     the resources already notified got afterRestore, and the JVM runs
     *     on without a checkpoint
     * @throws RestoreException if a resource's afterRestore threw after the
     *     restore
     */
    public static void checkpointRestore() throws CheckpointException, RestoreException {
        Coordinator.get().checkpointRestore();
    }

    /**
     * The environment of the container this JVM runs in now: after a
     * restore, the one the launcher passed at restore time; before any
     * restore, {@link System#getenv()}.
     *
     * @return an unmodifiable map of the environment
     */
    public static Map<String, String> getContainerEnvironment() {
        Map<String, String> env = Coordinator.get().restoreEnvironment();
        return env != null ? env : System.getenv();
    }
}
