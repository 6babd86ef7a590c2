package launcher

import (
	"github.com/crac-build/crac-build/internal/agent"
)

// coldClassCache adds the class cache's flags to the cold command (after
// java, or in JAVA_TOOL_OPTIONS) when the JVM would take the cache: the
// cache file and the files the JVM checks it against (the class path's
// jars, the JDK's modules) have the size and modification time they had
// at build. Otherwise the JVM would refuse it with a warning of its own,
// or its checks could miss a change: the cold start goes without it, and
// p.ColdNote says why. Stats only: no file is read.
func coldClassCache(p *Plan, env []string) []string {
	cc := p.Meta.ClassCache
	if err := cc.Check(); err != nil {
		p.ColdNote = "class cache not used: " + err.Error()
		return env
	}
	for i := len(cc.JVMFlags) - 1; i >= 0; i-- {
		p.Cold, env = agent.AddJavaOption(p.Cold, env, cc.JVMFlags[i])
	}
	return env
}
