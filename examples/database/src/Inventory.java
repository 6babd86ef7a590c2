import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

import org.crac.Context;
import org.crac.Core;
import org.crac.Resource;

/**
 * A service that needs its database at start: main() connects to DB_ADDR
 * (host:port) and loads its catalogue before it serves, and every request
 * asks the database again over the same connection. The "database" speaks
 * one line each way: "GET key" is answered by the key's value.
 *
 * <p>An open connection cannot go into a checkpoint (the peer would be gone
 * at restore), so the connection is an org.crac Resource: beforeCheckpoint
 * closes it, afterRestore opens a new one to the container's DB_ADDR. The
 * restored JVM's System.getenv() is still the build's; the crac-build agent
 * gives the container's environment as crac-build.env.NAME properties.
 * KEEP_CONNECTION=1 leaves the Resource out, to see the build refuse the
 * connection.
 */
public final class Inventory {
    private Inventory() {
    }

    /** The connection, reopened after each restore. */
    static final class Database implements Resource {
        private String addr;
        private Socket socket;
        private BufferedReader in;
        private Writer out;
        private int opened;

        Database(String addr) {
            this.addr = addr;
        }

        synchronized void connect() throws IOException {
            String[] hp = addr.split(":", 2);
            if (hp.length != 2) {
                throw new IOException("DB_ADDR " + addr + ": want host:port");
            }
            socket = new Socket(hp[0], Integer.parseInt(hp[1]));
            in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            out = new OutputStreamWriter(socket.getOutputStream(), StandardCharsets.UTF_8);
            opened++;
            System.out.println("inventory: connected to the database at " + addr + " (connection " + opened + ")");
        }

        synchronized String get(String key) throws IOException {
            if (socket == null) {
                connect();
            }
            out.write("GET " + key + "\n");
            out.flush();
            String v = in.readLine();
            if (v == null) {
                throw new IOException("the database at " + addr + " closed the connection");
            }
            return v;
        }

        synchronized void close() throws IOException {
            if (socket != null) {
                socket.close();
                socket = null;
            }
        }

        synchronized int opened() {
            return opened;
        }

        @Override
        public void beforeCheckpoint(Context<? extends Resource> context) throws Exception {
            close();
            System.out.println("inventory: connection closed for the checkpoint");
        }

        @Override
        public void afterRestore(Context<? extends Resource> context) throws Exception {
            synchronized (this) {
                addr = System.getProperty("crac-build.env.DB_ADDR", addr);
            }
            connect();
        }
    }

    public static void main(String[] args) throws Exception {
        String addr = System.getenv("DB_ADDR");
        if (addr == null || addr.isEmpty()) {
            System.err.println("inventory: DB_ADDR (host:port of the database) is not set");
            System.exit(2);
        }
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        Database db = new Database(addr);
        // Loaded once at start, as a cache of reference data would be: a
        // restored JVM still has it, from the build's database.
        String catalogue = db.get("catalogue");
        if (!"1".equals(System.getenv("KEEP_CONNECTION"))) {
            Core.getGlobalContext().register(db);
        }
        HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 0);
        server.createContext("/health", x -> reply(x, 200, "ok\n"));
        server.createContext("/", x -> {
            try {
                String stock = db.get("stock");
                reply(x, 200, "catalogue (loaded at start): " + catalogue + "\nstock (asked now): " + stock
                        + "\nconnections opened by this JVM: " + db.opened() + "\n");
            } catch (IOException e) {
                reply(x, 503, "database: " + e.getMessage() + "\n");
            }
        });
        server.start();
        System.out.println("inventory: listening on port " + port);
    }

    private static void reply(HttpExchange x, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        x.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        x.sendResponseHeaders(status, b.length);
        try (OutputStream os = x.getResponseBody()) {
            os.write(b);
        }
    }
}
