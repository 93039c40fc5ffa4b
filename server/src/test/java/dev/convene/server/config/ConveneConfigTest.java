package dev.convene.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConveneConfigTest {
  @Test
  void defaults_whenNothingIsSet() {
    ConveneConfig c = ConveneConfig.fromEnv(Map.of());
    assertEquals(9090, c.grpcPort());
    assertTrue(c.databaseUrl().isEmpty());
    assertEquals(Path.of("./data/postgres"), c.embeddedDataDir());
    assertEquals(Duration.ofSeconds(10), c.jobInterval());
  }

  @Test
  void badValues_failNamingTheVariable() {
    var e = assertThrows(IllegalArgumentException.class, () -> ConveneConfig.fromEnv(Map.of("CONVENE_GRPC_PORT", "http")));
    assertTrue(e.getMessage().contains("CONVENE_GRPC_PORT"));
    e = assertThrows(IllegalArgumentException.class, () -> ConveneConfig.fromEnv(Map.of("CONVENE_JOB_INTERVAL", "10")));
    assertTrue(e.getMessage().contains("CONVENE_JOB_INTERVAL"));
    e = assertThrows(IllegalArgumentException.class, () -> ConveneConfig.fromEnv(Map.of("CONVENE_DATABASE_POOL_SIZE", "0")));
    assertTrue(e.getMessage().contains("CONVENE_DATABASE_POOL_SIZE"));
  }

  @Test
  void toString_neverShowsThePassword() {
    ConveneConfig c = ConveneConfig.fromEnv(Map.of("CONVENE_DATABASE_URL", "jdbc:postgresql://db/convene",
        "CONVENE_DATABASE_PASSWORD", "hunter2"));
    assertFalse(c.toString().contains("hunter2"));
  }
}
