import jakarta.servlet.annotation.WebServlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The smallest web application that is still a servlet: GET /greeting
 * (and the context root) answers a greeting and how many requests this
 * JVM has served. The count carries over the checkpoint: a restored
 * container goes on counting from the build's warmup.
 */
@WebServlet(urlPatterns = {"", "/greeting"})
public final class Greeting extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final AtomicLong REQUESTS = new AtomicLong();

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        long n = REQUESTS.incrementAndGet();
        resp.setContentType("text/plain;charset=UTF-8");
        resp.getWriter().printf("hello from a war in Tomcat; requests served: %d%n", n);
    }
}
