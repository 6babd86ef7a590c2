import java.net.URL;
import java.net.URLClassLoader;

import dev.cracbuild.crac.Context;
import dev.cracbuild.crac.Core;
import dev.cracbuild.crac.Resource;

/**
 * Registers a resource from a thread whose context class loader is the
 * application's own (as a fat jar or a web app runs), and prints whether
 * the notifications, run by the agent's thread, see that loader.
 */
public final class LoaderApp {
    static Resource resource; // the global context holds it weakly

    public static void main(String[] args) throws Exception {
        ClassLoader app = new URLClassLoader(new URL[0], LoaderApp.class.getClassLoader());
        Thread t = new Thread(() -> {
            resource = new Resource() {
                @Override
                public void beforeCheckpoint(Context<? extends Resource> c) {
                    report("beforeCheckpoint", app);
                }

                @Override
                public void afterRestore(Context<? extends Resource> c) {
                    report("afterRestore", app);
                }
            };
            Core.getGlobalContext().register(resource);
        });
        t.setContextClassLoader(app);
        t.start();
        t.join();
        System.out.println("registered");
        Thread.sleep(Long.MAX_VALUE);
    }

    static void report(String what, ClassLoader want) {
        boolean same = Thread.currentThread().getContextClassLoader() == want;
        System.out.println(what + " context loader " + (same ? "kept" : "lost"));
    }
}
