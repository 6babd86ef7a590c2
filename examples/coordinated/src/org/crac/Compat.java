package org.crac;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;

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
    // Registrations the implementation refused: checkpointRestore() then
    // refuses too, as org.crac does (a checkpoint would miss a Resource).
    private final List<Throwable> registerErrors = new ArrayList<>();

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

    void register(Resource r) {
        Object proxy = ResourceWrapper.wrap(r, resourceClass);
        try {
            register.invoke(globalContext, proxy);
        } catch (IllegalAccessException e) {
            synchronized (registerErrors) {
                registerErrors.add(e);
            }
        } catch (InvocationTargetException e) {
            synchronized (registerErrors) {
                registerErrors.add(e.getCause());
            }
        }
    }

    void checkpointRestore() throws CheckpointException, RestoreException {
        synchronized (registerErrors) {
            if (!registerErrors.isEmpty()) {
                UnsupportedOperationException e = new UnsupportedOperationException("a Resource could not be registered");
                registerErrors.forEach(e::addSuppressed);
                throw e;
            }
        }
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
