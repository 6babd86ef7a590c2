package dev.cracbuild.crac;

/**
 * A set of resources that are notified together. A context is itself a
 * resource, so contexts can be nested. The same shape as
 * {@code jdk.crac.Context}.
 *
 * @param <R> the kind of resource the context holds
 */
public abstract class Context<R extends Resource> implements Resource {
    /** For subclasses. */
    protected Context() {
    }

    /**
     * Registers a resource. The global context holds it weakly, as
     * {@code jdk.crac} does: the application keeps it reachable.
     *
     * @param resource the resource to notify
     */
    public abstract void register(R resource);

    /**
     * The global context ({@code javax.crac} looks it up here, {@code
     * jdk.crac} on {@link Core}).
     *
     * @return the global context
     */
    public static Context<Resource> getGlobalContext() {
        return Core.getGlobalContext();
    }
}
