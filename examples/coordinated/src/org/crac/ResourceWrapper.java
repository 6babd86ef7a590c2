package org.crac;

import java.lang.ref.WeakReference;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The handler of the proxy that stands for an application's Resource in the
 * implementation's global context, shaped as the published org.crac
 * library's: a weak reference to the Resource, kept in a WeakHashMap keyed
 * by that Resource.
 *
 * <p>The implementation holds the proxy weakly (jdk.crac does, and so does
 * crac-build's agent). The map keeps this handler, and through it the
 * proxy, for as long as the application keeps its Resource; the handler
 * never keeps the Resource itself, except from beforeCheckpoint to
 * afterRestore, so that a Resource notified before the checkpoint is
 * notified after the restore even if the application dropped it in
 * between (a full GC runs before every checkpoint).
 */
final class ResourceWrapper extends WeakReference<Resource> implements InvocationHandler {
    private static final Map<Resource, ResourceWrapper> WRAPPERS = new WeakHashMap<>();

    private Object proxy;
    private Resource pinned;

    private ResourceWrapper(Resource resource) {
        super(resource);
    }

    /** Makes the proxy of resource for the implementation's Resource interface. */
    static Object wrap(Resource resource, Class<?> implResource) {
        ResourceWrapper w = new ResourceWrapper(resource);
        w.proxy = java.lang.reflect.Proxy.newProxyInstance(
                ResourceWrapper.class.getClassLoader(), new Class<?>[] {implResource}, w);
        synchronized (WRAPPERS) {
            WRAPPERS.put(resource, w);
        }
        return w.proxy;
    }

    @Override
    public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
        switch (m.getName()) {
            case "beforeCheckpoint": {
                Resource r = get();
                pinned = r;
                if (r != null) {
                    r.beforeCheckpoint(Compat.GLOBAL);
                }
                return null;
            }
            case "afterRestore": {
                Resource r = get();
                pinned = null;
                if (r != null) {
                    r.afterRestore(Compat.GLOBAL);
                }
                return null;
            }
            case "toString":
                return toString();
            default:
                // equals and hashCode are the Resource's, as in org.crac.
                Resource r = get();
                if (r == null) {
                    return "hashCode".equals(m.getName()) ? System.identityHashCode(proxy) : proxy == args[0];
                }
                try {
                    return m.invoke(r, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
        }
    }

    @Override
    public String toString() {
        return "org.crac.ResourceWrapper[" + get() + "]";
    }
}
