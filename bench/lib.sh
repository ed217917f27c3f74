# Pieces the bench scripts share; sourced, never run. Each script keeps its own ports so two
# benchmarks never meet.

# write_echo_upstream FILE DIR PORT BODY: the nginx upstream every bench puts behind the
# proxies: one worker on 127.0.0.1:PORT answering any request with 200 and BODY, which may
# name nginx variables (pass it single-quoted: 'ok user=$http_x_auth_user_id\n'). Its pid and
# error log go in DIR.
write_echo_upstream() {
  local file=$1 dir=$2 port=$3 body=$4
  cat >"$file" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    location / { default_type text/plain; return 200 "$body"; }
  }
}
CONF
}

# cpu_ticks PID: the process's user + system CPU so far, in clock ticks (getconf CLK_TCK).
cpu_ticks() { awk '{ s=$0; sub(/^.*\) /, "", s); split(s, a, " "); print a[12] + a[13] }' "/proc/$1/stat"; }

# median: the median of the numbers on standard input, one per line.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
