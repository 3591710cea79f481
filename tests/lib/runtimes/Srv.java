// Java: com.sun.net.httpserver, the downstream call with HttpURLConnection on the
// handler's thread. java Srv PORT DOWN
import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;

public class Srv {
	public static void main(String[] a) throws Exception {
		HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getByName("::"), Integer.parseInt(a[0])), 16);
		s.createContext("/", ex -> {
			String p = ex.getRequestURI().getPath();
			byte[] in = ex.getRequestBody().readAllBytes();
			int code = 200;
			String body = "hello " + in.length + "\n";
			if (p.startsWith("/err")) {
				code = 500;
				body = "broken\n";
			} else if (p.startsWith("/call")) {
				HttpURLConnection c = (HttpURLConnection) new URL(a[1] + "/from-java").openConnection();
				try (InputStream i = c.getInputStream()) {
					body = "down said " + c.getResponseCode() + " " + new String(i.readAllBytes(), StandardCharsets.UTF_8).trim() + "\n";
				}
			}
			byte[] b = body.getBytes(StandardCharsets.UTF_8);
			ex.sendResponseHeaders(code, b.length);
			try (OutputStream o = ex.getResponseBody()) {
				o.write(b);
			}
		});
		s.start();
		Runtime.getRuntime().addShutdownHook(new Thread(() -> s.stop(0)));
	}
}
