package dev.cracbuild.crac;

import java.lang.instrument.Instrumentation;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The crac-build Java agent. It makes this package the org.crac facade's
 * implementation (system property {@code org.crac.Core.Compat}) and, in a
 * crac-build build ({@code -javaagent:crac-agent.jar=build}), listens for
 * the builder's and the launcher's requests.
 *
 * <p>Its classes are on the boot class path (Boot-Class-Path in the jar's
 * manifest): the facade finds them with Class.forName from whatever class
 * loader loaded it (an application's, a fat jar's, a web app's), and every
 * loader delegates to the boot loader.
 *
 * <p>Options, comma-separated: {@code build}; {@code dir=PATH}, where the
 * control socket goes (default {@value #DEFAULT_DIR}); {@code
 * channel=unix|tcp}, unix by default when the JDK has it (also the system
 * property {@value #CHANNEL_PROPERTY}).
 */
public final class Agent {
    /** The system property the org.crac facade reads first. */
    public static final String COMPAT_PROPERTY = "org.crac.Core.Compat";

    /** Where agents in build mode listen: a tmpfs, so nothing lands in the image. */
    public static final String DEFAULT_DIR = "/dev/shm/crac-build-agent";

    /** System property that chooses the control channel: unix or tcp. */
    public static final String CHANNEL_PROPERTY = "crac-build.agent.channel";

    private static boolean started;

    private Agent() {
    }

    /**
     * Entry point for -javaagent.
     *
     * @param args the agent's options
     * @param inst unused
     * @throws Exception when the options are wrong or the control channel cannot be opened
     */
    public static void premain(String args, Instrumentation inst) throws Exception {
        start(args);
    }

    /**
     * Entry point for a dynamic load.
     *
     * @param args the agent's options
     * @param inst unused
     * @throws Exception when the options are wrong or the control channel cannot be opened
     */
    public static void agentmain(String args, Instrumentation inst) throws Exception {
        start(args);
    }

    private static synchronized void start(String args) throws Exception {
        if (started) {
            return;
        }
        boolean build = false;
        boolean tcp = false;
        String dir = DEFAULT_DIR;
        // Also a system property, for JVMs whose command line is not the
        // builder's to write (the agent then comes in JAVA_TOOL_OPTIONS).
        String channel = System.getProperty(CHANNEL_PROPERTY);
        if (channel != null) {
            args = (args == null ? "" : args + ",") + "channel=" + channel;
        }
        for (String a : (args == null ? "" : args).split(",")) {
            a = a.trim();
            if (a.isEmpty()) {
                continue;
            } else if (a.equals("build")) {
                build = true;
            } else if (a.startsWith("dir=")) {
                dir = a.substring(4);
            } else if (a.equals("channel=tcp")) {
                tcp = true;
            } else if (a.equals("channel=unix")) {
                tcp = false;
            } else {
                throw new IllegalArgumentException("crac-build agent: unknown option \"" + a
                        + "\" (known: build, dir=PATH, channel=unix|tcp)");
            }
        }
        String pkg = Agent.class.getName().substring(0, Agent.class.getName().lastIndexOf('.'));
        String prev = System.getProperty(COMPAT_PROPERTY);
        if (prev == null) {
            System.setProperty(COMPAT_PROPERTY, pkg);
        } else if (!prev.equals(pkg)) {
            System.err.println("crac-build agent: " + COMPAT_PROPERTY + " is already " + prev
                    + ": org.crac resources are not coordinated by crac-build");
        }
        if (build) {
            long pid = ProcessHandle.current().pid();
            Path d = Paths.get(dir);
            Control.start(Coordinator.startBuild(d, pid), d, pid, tcp);
        }
        started = true;
    }
}
