package sqlstore

import (
	"context"
	"fmt"
)

// EnvironmentRowCounts counts, in every table that has an env_id column,
// the rows that belong to envID. Deleting an environment must leave all
// zero; tests and support tools use it.
func (s *Store) EnvironmentRowCounts(ctx context.Context, envID string) (map[string]int, error) {
	catalog := `SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c
		WHERE m.type = 'table' AND c.name = 'env_id' ORDER BY m.name`
	if s.dialect.Name == "postgres" {
		catalog = `SELECT table_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND column_name = 'env_id' ORDER BY table_name`
	}
	rows, err := s.db.QueryContext(ctx, catalog)
	if err != nil {
		return nil, err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, table := range tables {
		var n int
		// table comes from the catalog, not from input.
		if err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE env_id = $1`, table), envID).Scan(&n); err != nil {
			return nil, err
		}
		counts[table] = n
	}
	return counts, nil
}
