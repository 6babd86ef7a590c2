package org.crac;

import java.lang.ref.WeakReference;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/** The implementation found by reflection (see Core). */
final class Compat {
    static final Compat INSTANCE = find();

    static final Context<Resource> GLOBAL = new Context<Resource>() {
        @Override
        public void register(Resource r) {
            if (INSTANCE != null) {
                INSTANCE.register(r);
            }
        }

        @Override
        public void beforeCheckpoint(Context<? extends Resource> context) {
            throw new UnsupportedOperationException("the global context is notified by the implementation");
        }

        @Override
        public void afterRestore(Context<? extends Resource> context) {
            throw new UnsupportedOperationException("the global context is notified by the implementation");
        }
    };

    private final Class<?> resourceClass;
    private final Class<?> checkpointExceptionClass;
    private final Class<?> restoreExceptionClass;
    private final Method checkpointRestore;
    private final Method register;
    private final Object globalContext;
    // The implementation may hold its resources weakly: keep each proxy as
    // long as the application keeps its resource.
    private final Map<Resource, Object> proxies = new WeakHashMap<>();

    private static Compat find() {
        List<String> pkgs = new ArrayList<>();
        String prop = System.getProperty("org.crac.Core.Compat");
        if (prop != null) {
            pkgs.add(prop);
        }
        pkgs.add("javax.crac");
        pkgs.add("jdk.crac");
        for (String p : pkgs) {
            try {
                return new Compat(p);
            } catch (ReflectiveOperationException | LinkageError e) {
                // not this one
            }
        }
        return null;
    }

    private Compat(String pkg) throws ReflectiveOperationException {
        resourceClass = Class.forName(pkg + ".Resource");
        Class<?> context = Class.forName(pkg + ".Context");
        Class<?> core = Class.forName(pkg + ".Core");
        checkpointExceptionClass = Class.forName(pkg + ".CheckpointException");
        restoreExceptionClass = Class.forName(pkg + ".RestoreException");
        checkpointRestore = core.getMethod("checkpointRestore");
        Method gc;
        try {
            gc = core.getMethod("getGlobalContext");
        } catch (NoSuchMethodException e) {
            gc = context.getMethod("getGlobalContext");
        }
        globalContext = gc.invoke(null);
        register = context.getMethod("register", resourceClass);
    }

    synchronized void register(Resource r) {
        WeakReference<Resource> ref = new WeakReference<>(r);
        InvocationHandler h = (proxy, m, args) -> {
            Resource target = ref.get();
            switch (m.getName()) {
                case "beforeCheckpoint":
                    if (target != null) {
                        target.beforeCheckpoint(GLOBAL);
                    }
                    return null;
                case "afterRestore":
                    if (target != null) {
                        target.afterRestore(GLOBAL);
                    }
                    return null;
                case "toString":
                    return "org.crac resource " + target;
                case "hashCode":
                    return System.identityHashCode(proxy);
                case "equals":
                    return proxy == args[0];
                default:
                    throw new UnsupportedOperationException(m.toString());
            }
        };
        Object proxy = Proxy.newProxyInstance(Compat.class.getClassLoader(), new Class<?>[] {resourceClass}, h);
        proxies.put(r, proxy);
        try {
            register.invoke(globalContext, proxy);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        } catch (InvocationTargetException e) {
            Throwable c = e.getCause();
            throw c instanceof RuntimeException ? (RuntimeException) c : new IllegalStateException(c);
        }
    }

    void checkpointRestore() throws CheckpointException, RestoreException {
        try {
            checkpointRestore.invoke(null);
        } catch (IllegalAccessException e) {
            CheckpointException ce = new CheckpointException();
            ce.addSuppressed(e);
            throw ce;
        } catch (InvocationTargetException e) {
            Throwable c = e.getCause();
            if (restoreExceptionClass.isInstance(c)) {
                RestoreException re = new RestoreException();
                for (Throwable s : c.getSuppressed()) {
                    re.addSuppressed(s);
                }
                throw re;
            }
            CheckpointException ce = new CheckpointException();
            if (checkpointExceptionClass.isInstance(c)) {
                for (Throwable s : c.getSuppressed()) {
                    ce.addSuppressed(s);
                }
            } else {
                ce.addSuppressed(c);
            }
            throw ce;
        }
    }
}
