# The compatibility workload (../WORKLOAD.md) written with redis-rb.
#
# Usage: ruby workload.rb HOST PORT
require "redis"

$stdout.sync = true

def canonical(err)
  err.message.sub(/\A[A-Z]+ /, "")
end

r = Redis.new(host: ARGV[0], port: Integer(ARGV[1]))

puts "ping #{r.ping}"
puts "info redis_version=#{r.info("server")["redis_version"]}"
puts "command count=#{r.call("COMMAND", "COUNT")}"
puts "flushdb #{r.flushdb}"

r.set("sg:k", "v1")
puts "set-get #{r.get("sg:k")}"

replies = r.pipelined do |p|
  1000.times do |i|
    case i % 8
    when 0, 4 then p.set("pl:#{i}", "v#{i}")
    when 1, 5 then p.incr("pl:ctr")
    when 2, 6 then p.get("pl:#{i - 2}")
    when 3 then p.rpush("pl:list", i)
    else p.get("pl:none:#{i}")
    end
  end
end
t = Hash.new(0)
replies.each do |rep|
  case rep
  when nil then t[:nils] += 1
  when Redis::CommandError then t[:errors] += 1
  when Integer then t[:ints] += 1; t[:sum] += rep
  when "OK" then t[:ok] += 1
  else t[:strings] += 1; t[:bytes] += rep.bytesize
  end
end
puts "pipeline n=#{replies.size} ok=#{t[:ok]} ints=#{t[:ints]} sum=#{t[:sum]} " \
     "strings=#{t[:strings]} bytes=#{t[:bytes]} nils=#{t[:nils]} errors=#{t[:errors]}"

keys = (0...50).map { |i| format("mk:%02d", i) }
puts "mset #{r.mset(*keys.each_with_index.flat_map { |k, i| [k, format("mv%02d", i)] })}"
vals = r.mget(*keys, "mk:missing")
puts "mget n=#{vals.size} nils=#{vals.count(nil)} values=#{vals.compact.join(",")}"

r.set("{user1}:a", "1")
r.set("{user1}:b", "2")
ok = r.rename("{user1}:a", "{user1}:c")
b, c = r.mget("{user1}:b", "{user1}:c")
puts "hashtag rename=#{ok} mget=#{b},#{c}"

e1 = r.eval("redis.call('SET',KEYS[1],ARGV[1]) return redis.call('GET',KEYS[1])", keys: ["ev:k"], argv: ["hello"])
e2 = r.eval("return {KEYS[1],KEYS[2],ARGV[1]}", keys: ["{ev}a", "{ev}b"], argv: ["x"])
puts "eval #{e1} #{e2.join(",")}"

r.pipelined { |p| 300.times { |i| p.set(format("scan:%03d", i), "x") } }
seen = r.scan_each(match: "scan:*", count: 50).to_a.uniq.sort
puts "scan keys=#{seen.size} first=#{seen.first} last=#{seen.last}"

# redis-rb 4.x's #pipelined raises the first error reply of a pipeline and
# drops the other replies, so this step uses the client's own pipelining
# primitive underneath it (what #pipelined does): write every command, then
# read every reply, errors included.
client = r._client
cmds = [[:set, "pe:k", "v"], [:incr, "pe:k"], [:lpush, "pe:k", "x"], [:get, "pe:k"]]
replies = client.process(cmds) { cmds.map { client.read } }
parts = replies.map { |v| v.is_a?(Redis::CommandError) ? canonical(v) : v.to_s }
puts "pipeline-error #{parts.join("|")}"

puts "del #{r.del(*keys)}"

# A second connection, for the concurrent writer, the pusher and the
# publisher.
r2 = Redis.new(host: ARGV[0], port: Integer(ARGV[1]))
user = "{user:1000}"
a, b, c = r.multi do |m|
  m.hset("#{user}:profile", "name", "Ada")
  m.incr("#{user}:visits")
  m.hget("#{user}:profile", "name")
end
puts "multi-exec #{a},#{b},#{c}"

res = r.watch("#{user}:visits") do
  r2.incr("#{user}:visits")
  r.multi { |m| m.set("#{user}:visits", "100") }
end
puts "watch #{res.nil? ? "aborted" : "applied"} visits=#{r.get("#{user}:visits")}"

pusher = Thread.new { sleep 0.2; r2.lpush("bl:q", "job") }
woken = r.blpop("bl:q", timeout: 5)
pusher.join
start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
none = r.blpop("bl:none", timeout: 1)
waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start >= 0.9 ? "1s" : "short"
puts "blpop woken=#{woken.join(",")} timeout=#{none.nil? ? "nil" : none} waited=#{waited}"

sub = Redis.new(host: ARGV[0], port: Integer(ARGV[1]))
ready = Queue.new
got = Queue.new
subscriber = Thread.new do
  sub.subscribe_with_timeout(5, "ps:news") do |on|
    on.subscribe { |_ch, _n| ready << true }
    on.message do |ch, msg|
      got << [ch, msg]
      sub.unsubscribe
    end
  end
end
ready.pop
receivers = r.publish("ps:news", "hello")
ch, msg = got.pop
subscriber.join
puts "pubsub receivers=#{receivers} message=#{ch},#{msg}"

puts "restart"
$stdin.gets
pong = nil
last = nil
100.times do
  begin
    pong = r.ping
    break
  rescue Redis::BaseConnectionError => e
    last = e
    sleep 0.1
  end
end
abort "no reconnect: #{last}" if pong.nil?
r.set("rs:k", "v2")
puts "reconnect #{pong} #{r.get("rs:k")}"
puts "done"
