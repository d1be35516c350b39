# Sourced by the dispatch benchmarks (bench_dispatch.sh, bench_nodes.sh): the campaign they send.
#
#   bench_blast_files DIR N
#
# Writes DIR/contacts.csv (N contacts +8613900000000, ... tagged `member`, first_name U0, U1, ...)
# and DIR/blast.yaml (campaign `blast`, sender `shop`, transactional, one SMS step due now).
bench_blast_files() {
  local dir="$1" n="$2"
  python3 - "$dir/contacts.csv" "$n" << 'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("phone,first_name,tags\n")
    for i in range(int(sys.argv[2])):
        f.write(f"+86139{i:08d},U{i},member\n")
PY
  cat > "$dir/blast.yaml" << 'YAML'
campaign: blast
sender: shop
category: transactional
audience: { all_tags: [member] }
steps:
  - id: hello
    at: now
    sms: { text: "Hi {{first_name}}, your order shipped" }
YAML
}
