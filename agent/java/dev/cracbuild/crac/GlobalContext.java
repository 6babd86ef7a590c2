package dev.cracbuild.crac;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The global context: resources in registration order, held weakly, each
 * with the thread context class loader of the thread that registered it.
 * Notifications run in the agent's thread when the builder or the launcher
 * asks; a framework's resource (started from a fat jar's or a web app's
 * class loader) then still finds its classes through the context loader it
 * had.
 */
final class GlobalContext extends Context<Resource> {
    static final GlobalContext INSTANCE = new GlobalContext();

    /** A registered resource, as notifications see it. */
    static final class Entry {
        final Resource resource;
        final ClassLoader loader;

        Entry(Resource resource, ClassLoader loader) {
            this.resource = resource;
            this.loader = loader;
        }
    }

    private static final class Ref {
        final WeakReference<Resource> resource;
        final WeakReference<ClassLoader> loader;

        Ref(Resource r, ClassLoader l) {
            resource = new WeakReference<>(r);
            loader = new WeakReference<>(l);
        }
    }

    private final List<Ref> refs = new ArrayList<>();

    private GlobalContext() {
    }

    @Override
    public synchronized void register(Resource resource) {
        if (resource == null) {
            throw new NullPointerException("resource");
        }
        refs.add(new Ref(resource, Thread.currentThread().getContextClassLoader()));
    }

    /** The live resources, in registration order. */
    synchronized List<Entry> entries() {
        List<Entry> out = new ArrayList<>(refs.size());
        for (Iterator<Ref> it = refs.iterator(); it.hasNext();) {
            Ref ref = it.next();
            Resource r = ref.resource.get();
            if (r == null) {
                it.remove();
            } else {
                out.add(new Entry(r, ref.loader.get()));
            }
        }
        return out;
    }

    /**
     * Runs beforeCheckpoint of every resource in reverse registration
     * order. Every resource is notified even if one fails, as jdk.crac
     * does; notified receives them in notification order.
     */
    List<Failure> notifyBefore(List<Entry> notified) {
        List<Entry> es = entries();
        List<Failure> failures = new ArrayList<>();
        for (int i = es.size() - 1; i >= 0; i--) {
            Entry e = es.get(i);
            notified.add(e);
            Thread t = Thread.currentThread();
            ClassLoader prev = t.getContextClassLoader();
            t.setContextClassLoader(e.loader);
            try {
                e.resource.beforeCheckpoint(this);
            } catch (Throwable x) {
                failures.add(new Failure("beforeCheckpoint", e.resource, x));
            } finally {
                t.setContextClassLoader(prev);
            }
        }
        return failures;
    }

    /**
     * Runs afterRestore of the resources that got beforeCheckpoint (given
     * in notification order) in registration order.
     */
    List<Failure> notifyAfter(List<Entry> notified) {
        List<Failure> failures = new ArrayList<>();
        for (int i = notified.size() - 1; i >= 0; i--) {
            Entry e = notified.get(i);
            Thread t = Thread.currentThread();
            ClassLoader prev = t.getContextClassLoader();
            t.setContextClassLoader(e.loader);
            try {
                e.resource.afterRestore(this);
            } catch (Throwable x) {
                failures.add(new Failure("afterRestore", e.resource, x));
            } finally {
                t.setContextClassLoader(prev);
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
        List<Entry> es = entries();
        List<Entry> reversed = new ArrayList<>(es.size());
        for (int i = es.size() - 1; i >= 0; i--) {
            reversed.add(es.get(i));
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
