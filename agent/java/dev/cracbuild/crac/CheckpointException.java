package dev.cracbuild.crac;

/**
 * A checkpoint did not happen; the exceptions of the resources that failed
 * are attached as suppressed exceptions. Execution continues in the
 * original JVM.
 */
public class CheckpointException extends Exception {
    private static final long serialVersionUID = 1L;

    /** An exception without message. */
    public CheckpointException() {
    }

    /**
     * An exception with a message.
     *
     * @param message what went wrong
     */
    public CheckpointException(String message) {
        super(message);
    }
}
