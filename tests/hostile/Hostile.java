// Java thread bomb: threads count against the pids limit; the JVM fails to start more.
public class Hostile {
    public static void main(String[] args) throws Exception {
        int n = 0;
        try {
            while (n < 100000) {
                Thread t = new Thread(() -> { try { Thread.sleep(30000); } catch (InterruptedException e) {} });
                t.setDaemon(true);
                t.start();
                n++;
            }
            System.out.println("ESCAPED started " + n);
        } catch (OutOfMemoryError e) {
            System.out.println("CONTAINED thread start failed after " + n + ": " + e.getMessage());
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }
}
