# The README's two commands. Each first installs what a fresh machine lacks
# (scripts/install-deps.sh: apt-get as root, otherwise it names the packages), then runs cargo.
.PHONY: run test deps

# Gatehouse with the bundled config (embedded SQLite under data/, a built-in echo route).
run:
	scripts/install-deps.sh build
	cargo run --release --locked -- --config config/gatehouse.toml

# The whole test suite, one debug build. PostgreSQL is found on 127.0.0.1:5432 unless
# GATEHOUSE_TEST_POSTGRES_URL says otherwise. .ci/run runs these same two steps.
test:
	scripts/install-deps.sh test
	cargo test --locked

# Only the system packages (build and test).
deps:
	scripts/install-deps.sh test
