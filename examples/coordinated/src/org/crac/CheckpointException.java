package org.crac;

/** org.crac's CheckpointException. */
public class CheckpointException extends Exception {
    private static final long serialVersionUID = 1L;

    public CheckpointException() {
    }
}
