package org.crac;

/**
 * org.crac's Resource (see Core for why this copy exists).
 */
public interface Resource {
    void beforeCheckpoint(Context<? extends Resource> context) throws Exception;

    void afterRestore(Context<? extends Resource> context) throws Exception;
}
