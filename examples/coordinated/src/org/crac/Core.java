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
 *       {@code java.lang.reflect.Proxy} of the implementation's Resource,
 *       whose handler (ResourceWrapper) holds the Resource weakly and lives
 *       in a WeakHashMap keyed by it: the implementation sees proxies only,
 *       alive as long as the application keeps its Resources;</li>
 *   <li>getGlobalContext(), register and checkpointRestore() are called
 *       reflectively, and the implementation's exceptions are translated
 *       into org.crac's.</li>
 * </ol>
 *
 * Without an implementation, registering does nothing and
 * checkpointRestore() throws UnsupportedOperationException; so it does
 * when a registration failed.
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
