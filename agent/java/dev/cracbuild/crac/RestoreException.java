package dev.cracbuild.crac;

/**
 * Resources failed in afterRestore; their exceptions are attached as
 * suppressed exceptions. Execution continues in the restored JVM.
 */
public class RestoreException extends Exception {
    private static final long serialVersionUID = 1L;

    /** An exception without message. */
    public RestoreException() {
    }

    /**
     * An exception with a message.
     *
     * @param message what went wrong
     */
    public RestoreException(String message) {
        super(message);
    }
}
