package org.crac;

/**
 * A minimal stand-in for the org.crac:crac library (io.github.crac), written
 * from its documented behaviour because this project's machines have no
 * Maven Central. A real application ships the real library; it finds its
 * implementation the same way, which is what matters to crac-build:
 *
 * <ol>
 *   <li>the package named by the system property {@code org.crac.Core.Compat},
 *       then {@code javax.crac}, then {@code jdk.crac};</li>
 *   <li>in it, by {@code Class.forName} from this class's loader: Resource,
 *       Context, Core, CheckpointException and RestoreException;
 *       {@code Core.checkpointRestore()}; {@code Core.getGlobalContext()},
 *       or {@code Context.getGlobalContext()} where Core lacks it; and
 *       {@code Context.register(Resource)};</li>
 *   <li>every org.crac Resource is registered there as a
 *       {@code java.lang.reflect.Proxy} of the implementation's Resource.</li>
 * </ol>
 *
 * Without an implementation, registering does nothing and
 * checkpointRestore() throws UnsupportedOperationException.
 */
public class Core {
    private Core() {
    }

    public static Context<Resource> getGlobalContext() {
        return Compat.GLOBAL;
    }

    public static void checkpointRestore() throws CheckpointException, RestoreException {
        Compat c = Compat.INSTANCE;
        if (c == null) {
            throw new UnsupportedOperationException("no CRaC implementation found");
        }
        c.checkpointRestore();
    }
}
