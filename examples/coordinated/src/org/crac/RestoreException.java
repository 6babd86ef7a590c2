package org.crac;

/** org.crac's RestoreException. */
public class RestoreException extends Exception {
    private static final long serialVersionUID = 1L;

    public RestoreException() {
    }
}
