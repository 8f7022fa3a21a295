import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.temporal.internal.testservice.GRPCServerHelper;
import io.temporal.internal.testservice.TestServicesStarter;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Drop-in replacement for {@code io.temporal.testserver.TestServer} (same arguments:
 * {@code PORT [--enable-time-skipping]}) that listens on 127.0.0.1 instead of every interface.
 *
 * <p>Upstream binds with {@code Grpc.newServerBuilderForPort}, i.e. the wildcard address, so a test
 * run would expose an unauthenticated Temporal frontend to the network. This class builds the same
 * services ({@link TestServicesStarter}, {@link GRPCServerHelper}) behind a Netty server bound to one
 * address. {@code PHOENIX_TEST_SERVER_HOST} overrides the host for the rare setup that needs it.
 *
 * <p>Compiled by scripts/provision.ts against the jars fetched with scripts/maven/pom.xml; written
 * for Java 8 because that is the oldest runtime the Temporal SDK supports.
 */
public final class LoopbackTestServer {
  /** Environment variable naming the address to bind instead of 127.0.0.1. */
  public static final String HOST_ENV = "PHOENIX_TEST_SERVER_HOST";

  private static final String DEFAULT_HOST = "127.0.0.1";
  private static final String TIME_SKIPPING_FLAG = "--enable-time-skipping";
  /** Exit status for bad arguments; upstream exits 0 there, which hides the mistake from callers. */
  private static final int USAGE_EXIT = 2;

  private LoopbackTestServer() {}

  /**
   * Starts the test server and returns; gRPC's non-daemon threads keep the JVM alive until it is
   * signalled, when the shutdown hook closes the server the way upstream does.
   */
  public static void main(String[] args) {
    if (args.length < 1 || args.length > 2) {
      // Same text as upstream, so callers that parse it see no difference.
      System.err.println("Usage: <command> <port> <flags>");
      System.err.println("Flags:");
      System.err.println(TIME_SKIPPING_FLAG + " - to enable time skipping on start");
      System.exit(USAGE_EXIT);
    }
    int port;
    try {
      port = Integer.parseInt(args[0]);
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 0 || port > 65535) {
      System.err.println("Invalid port: " + args[0] + " (expected an integer 0-65535)");
      System.exit(USAGE_EXIT);
    }
    boolean enableTimeSkipping = false;
    if (args.length > 1) {
      if (!TIME_SKIPPING_FLAG.equalsIgnoreCase(args[1])) {
        System.err.println("Unknown flag " + args[1]);
        System.exit(USAGE_EXIT);
      }
      enableTimeSkipping = true;
    }

    String configured = System.getenv(HOST_ENV);
    String host = configured == null || configured.trim().isEmpty() ? DEFAULT_HOST : configured.trim();
    InetSocketAddress address = new InetSocketAddress(host, port);
    if (address.isUnresolved()) {
      System.err.println(HOST_ENV + "=" + host + " does not resolve to an address to listen on");
      System.exit(USAGE_EXIT);
    }

    // Upstream passes lockTimeSkipping = !enableTimeSkipping and a zero initial time offset.
    final TestServicesStarter starter = new TestServicesStarter(!enableTimeSkipping, 0L);
    // Hooked before binding (upstream hooks after): a SIGTERM right after the port opens then still
    // closes the server instead of failing with "Shutdown in progress".
    final AtomicReference<Server> started = new AtomicReference<>();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> close(started.get(), starter), "test-server-shutdown"));
    NettyServerBuilder builder = NettyServerBuilder.forAddress(address, InsecureServerCredentials.create());
    GRPCServerHelper.registerServicesAndHealthChecks(starter.getServices(), builder);
    try {
      started.set(builder.build().start());
    } catch (IOException e) {
      System.err.println("Cannot listen on " + host + ":" + port + ": " + e.getMessage());
      System.exit(1);
    }
  }

  /** Mirrors upstream's PortBoundTestServer.close(): stop accepting, give calls 5 s, then force. */
  private static void close(Server server, TestServicesStarter starter) {
    try {
      if (server != null) {
        server.shutdown();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
      starter.close();
      if (server != null) server.shutdownNow();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
