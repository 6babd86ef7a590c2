package org.crac;

/**
 * org.crac's Context (see Core for why this copy exists).
 */
public abstract class Context<R extends Resource> implements Resource {
    protected Context() {
    }

    public abstract void register(R resource);

    public static Context<Resource> getGlobalContext() {
        return Core.getGlobalContext();
    }
}
