package dev.convene.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.testing.TestPostgres;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Every table's primary key begins with tenant_id and every foreign key carries it, so the schema
 * distributes by tenant. The exceptions are the reference tables listed here.
 */
class SchemaTenancyTest {
  // redemption_failures counts failed access-code guesses per client address, which may name no tenant.
  static final Set<String> REFERENCE_TABLES =
      Set.of("tenants", "server_secrets", "flyway_schema_history", "redemption_failures");

  @Test
  void everyPrimaryKeyBeginsWithTenantId_andEveryForeignKeyCarriesIt() {
    try (Database db = TestPostgres.freshDatabase(2)) {
      List<Map<String, Object>> keys = db.jdbi().withHandle(h -> h.createQuery("""
          SELECT c.conrelid::regclass::text AS tbl, c.contype::text AS kind,
                 (SELECT string_agg(a.attname::text, ',' ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY AS k(att, n)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att) AS cols
            FROM pg_constraint c JOIN pg_namespace ns ON ns.oid = c.connamespace
           WHERE ns.nspname = 'public' AND c.contype IN ('p', 'f')
          """).mapToMap().list());
      List<String> tables = db.jdbi().withHandle(h -> h.createQuery(
          "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").mapTo(String.class).list());
      int checked = 0;
      for (String table : tables) {
        if (REFERENCE_TABLES.contains(table)) {
          continue;
        }
        List<String> pk = keys.stream().filter(k -> k.get("tbl").equals(table) && k.get("kind").equals("p"))
            .map(k -> ((String) k.get("cols")).split(",")[0]).toList();
        assertEquals(List.of("tenant_id"), pk, table + ": primary key must begin with tenant_id");
        checked++;
      }
      for (Map<String, Object> k : keys) {
        if (k.get("kind").equals("f") && !REFERENCE_TABLES.contains((String) k.get("tbl"))) {
          List<String> cols = List.of(((String) k.get("cols")).split(","));
          assertTrue(cols.contains("tenant_id"), k.get("tbl") + " foreign key " + cols + " lacks tenant_id");
        }
      }
      assertTrue(checked >= 5, "tables checked: " + checked);
    }
  }
}
