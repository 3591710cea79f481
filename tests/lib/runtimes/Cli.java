// Java clients: java.net.http.HttpClient (HTTP/1.1: an executor thread writes, the selector
// thread reads) for the two bare requests, HttpURLConnection for the one with its own
// traceparent. java Cli DOWN TRACEPARENT
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

public class Cli {
	public static void main(String[] a) throws Exception {
		HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
		for (String p : new String[] {"/c1-java", "/c2-java"}) {
			HttpResponse<String> r = c.send(HttpRequest.newBuilder(URI.create(a[0] + p)).build(),
							HttpResponse.BodyHandlers.ofString());
			System.out.println(r.statusCode() + " " + r.body().trim());
		}
		HttpURLConnection h = (HttpURLConnection) new URL(a[0] + "/own-java").openConnection();
		h.setRequestProperty("traceparent", a[1]);
		try (InputStream i = h.getInputStream()) {
			System.out.println(h.getResponseCode() + " " + new String(i.readAllBytes(), StandardCharsets.UTF_8).trim());
		}
	}
}
