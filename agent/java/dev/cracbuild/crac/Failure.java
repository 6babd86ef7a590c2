package dev.cracbuild.crac;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

/** A resource's notification that threw. */
final class Failure {
    final String phase;
    final Resource resource;
    final Throwable error;

    Failure(String phase, Resource resource, Throwable error) {
        this.phase = phase;
        this.resource = resource;
        this.error = error;
    }

    /**
     * "beforeCheckpoint of NAME failed:" and the stack trace. NAME is the
     * resource's toString(): the org.crac facade's wrapper shows the
     * application's resource in it.
     */
    String report() {
        StringWriter w = new StringWriter();
        w.append(phase).append(" of ").append(describe(resource)).append(" failed:\n");
        error.printStackTrace(new PrintWriter(w, true));
        return w.toString();
    }

    static String report(List<Failure> failures) {
        StringBuilder b = new StringBuilder();
        for (Failure f : failures) {
            b.append(f.report());
        }
        return b.toString();
    }

    static String describe(Resource r) {
        String s;
        try {
            s = String.valueOf(r);
        } catch (RuntimeException e) {
            s = r.getClass().getName() + " (toString threw " + e + ")";
        }
        return s;
    }

    static CheckpointException checkpointException(List<Failure> failures) {
        CheckpointException e = new CheckpointException(failures.size() + " resource(s) failed: " + first(failures));
        for (Failure f : failures) {
            e.addSuppressed(f.error);
        }
        return e;
    }

    static RestoreException restoreException(List<Failure> failures) {
        RestoreException e = new RestoreException(failures.size() + " resource(s) failed: " + first(failures));
        for (Failure f : failures) {
            e.addSuppressed(f.error);
        }
        return e;
    }

    private static String first(List<Failure> failures) {
        Failure f = failures.get(0);
        return f.phase + " of " + describe(f.resource) + ": " + f.error;
    }
}
