package dev.cracbuild.crac;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** The global context: resources in registration order, held weakly. */
final class GlobalContext extends Context<Resource> {
    static final GlobalContext INSTANCE = new GlobalContext();

    private final List<WeakReference<Resource>> refs = new ArrayList<>();

    private GlobalContext() {
    }

    @Override
    public synchronized void register(Resource resource) {
        if (resource == null) {
            throw new NullPointerException("resource");
        }
        refs.add(new WeakReference<>(resource));
    }

    /** The live resources, in registration order. */
    synchronized List<Resource> resources() {
        List<Resource> out = new ArrayList<>(refs.size());
        for (Iterator<WeakReference<Resource>> it = refs.iterator(); it.hasNext();) {
            Resource r = it.next().get();
            if (r == null) {
                it.remove();
            } else {
                out.add(r);
            }
        }
        return out;
    }

    /**
     * Runs beforeCheckpoint of every resource in reverse registration
     * order. Every resource is notified even if one fails, as jdk.crac
     * does; notified receives them in notification order.
     */
    List<Failure> notifyBefore(List<Resource> notified) {
        List<Resource> rs = resources();
        List<Failure> failures = new ArrayList<>();
        for (int i = rs.size() - 1; i >= 0; i--) {
            Resource r = rs.get(i);
            notified.add(r);
            try {
                r.beforeCheckpoint(this);
            } catch (Throwable t) {
                failures.add(new Failure("beforeCheckpoint", r, t));
            }
        }
        return failures;
    }

    /**
     * Runs afterRestore of the resources that got beforeCheckpoint (given
     * in notification order) in registration order.
     */
    List<Failure> notifyAfter(List<Resource> notified) {
        List<Failure> failures = new ArrayList<>();
        for (int i = notified.size() - 1; i >= 0; i--) {
            Resource r = notified.get(i);
            try {
                r.afterRestore(this);
            } catch (Throwable t) {
                failures.add(new Failure("afterRestore", r, t));
            }
        }
        return failures;
    }

    /** A context is a resource too: the global one is never registered. */
    @Override
    public void beforeCheckpoint(Context<? extends Resource> context) throws CheckpointException {
        List<Failure> f = notifyBefore(new ArrayList<>());
        if (!f.isEmpty()) {
            throw Failure.checkpointException(f);
        }
    }

    @Override
    public void afterRestore(Context<? extends Resource> context) throws RestoreException {
        List<Resource> rs = resources();
        List<Resource> reversed = new ArrayList<>(rs.size());
        for (int i = rs.size() - 1; i >= 0; i--) {
            reversed.add(rs.get(i));
        }
        List<Failure> f = notifyAfter(reversed);
        if (!f.isEmpty()) {
            throw Failure.restoreException(f);
        }
    }

    @Override
    public String toString() {
        return "crac-build global context";
    }
}
