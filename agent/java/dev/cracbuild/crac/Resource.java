package dev.cracbuild.crac;

/**
 * Something that must act before a checkpoint and after a restore: close
 * what cannot survive (connections, listening sockets, files, keys) and
 * reopen it. The same shape as {@code jdk.crac.Resource}, so that the
 * {@code org.crac} facade can register its resources here.
 */
public interface Resource {
    /**
     * Called before the checkpoint, in reverse registration order.
     *
     * @param context the context this resource is registered in
     * @throws Exception if the resource cannot be checkpointed: the
     *     checkpoint (and a crac-build build) is aborted
     */
    void beforeCheckpoint(Context<? extends Resource> context) throws Exception;

    /**
     * Called after a restore (or after a checkpoint that failed), in
     * registration order.
     *
     * @param context the context this resource is registered in
     * @throws Exception if the resource could not be restored
     */
    void afterRestore(Context<? extends Resource> context) throws Exception;
}
