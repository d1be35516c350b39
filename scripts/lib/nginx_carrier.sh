# Sourced by the benchmarks (bench_dispatch.sh, bench_nodes.sh): a fast local carrier, nginx
# with one worker on 127.0.0.1, answering every request with a fresh carrier id
# ({"status":"ok","message_id":"<request id>"}) and logging each request's time (msec) and
# status to DIR/access.log, buffered and flushed every second.
#
#   nginx_carrier_start DIR PORT LOG_FORMAT [MAIN_LINES] [SERVER_LINES]
#
# LOG_FORMAT: nginx variables after '$msec $status' (e.g. ' $request_uri', or '');
# MAIN_LINES: top-level directives (load_module ...); SERVER_LINES: more of the server block
# (locations). Writes DIR/nginx.conf, DIR/nginx.pid, DIR/nginx/; stop it with
# `kill "$(cat DIR/nginx.pid)"`.
nginx_carrier_start() {
  local dir="$1" port="$2" log_extra="$3" main_lines="${4:-}" server_lines="${5:-}"
  mkdir -p "$dir/nginx"
  cat > "$dir/nginx.conf" << CONF
$main_lines
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $dir/nginx; proxy_temp_path $dir/nginx; fastcgi_temp_path $dir/nginx;
  uwsgi_temp_path $dir/nginx; scgi_temp_path $dir/nginx;
  log_format t '\$msec \$status$log_extra';
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port backlog=4096;
    access_log $dir/access.log t buffer=256k flush=1s;
    $server_lines
    location / { default_type application/json;
                 return 200 '{"status":"ok","message_id":"\$request_id"}'; }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -e "$dir/nginx/error.log"
  sleep 0.3
}
