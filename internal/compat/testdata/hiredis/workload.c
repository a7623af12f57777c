/*
 * The compatibility workload (../WORKLOAD.md) written with hiredis, the C
 * client most other language bindings wrap.
 *
 * Usage: workload HOST PORT | workload --version
 * Build: cc -O1 -Wall -Werror -pthread -o workload workload.c -lhiredis
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static redisContext *c;

static void die(const char *what) {
	fprintf(stderr, "%s: %s\n", what, c && c->err ? c->errstr : "unexpected reply");
	exit(1);
}

/* cmd sends one command and returns its reply, exiting on I/O errors. */
static redisReply *cmd(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r == NULL)
		die(fmt);
	return r;
}

/* reply reads the next pipelined reply. */
static redisReply *reply(void) {
	void *r = NULL;
	if (redisGetReply(c, &r) != REDIS_OK || r == NULL)
		die("redisGetReply");
	return r;
}

/* canonical is an error message without its leading code word. */
static const char *canonical(const char *msg) {
	const char *p = msg;
	while (*p >= 'A' && *p <= 'Z')
		p++;
	return (p > msg && *p == ' ') ? p + 1 : msg;
}

/* on sends one command on connection x and returns its reply. */
static redisReply *on(redisContext *x, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(x, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		fprintf(stderr, "%s: %s\n", fmt, x->errstr);
		exit(1);
	}
	return r;
}

/* push is the pusher thread of the blocking step: LPUSH 200 ms later, on
 * its own connection. */
static void *push(void *arg) {
	usleep(200000);
	freeReplyObject(on(arg, "LPUSH bl:q job"));
	return NULL;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmpstr(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	c = redisConnect(argv[1], atoi(argv[2]));
	if (c == NULL || c->err)
		die("connect");
	redisReply *r;

	r = cmd("PING");
	printf("ping %s\n", r->str);
	freeReplyObject(r);

	r = cmd("INFO server");
	const char *v = r->type == REDIS_REPLY_STRING ? strstr(r->str, "redis_version:") : NULL;
	char version[64] = "";
	if (v)
		sscanf(v, "redis_version:%63[^\r\n]", version);
	printf("info redis_version=%s\n", version);
	freeReplyObject(r);

	r = cmd("COMMAND COUNT");
	printf("command count=%lld\n", r->integer);
	freeReplyObject(r);

	r = cmd("FLUSHDB");
	printf("flushdb %s\n", r->str);
	freeReplyObject(r);

	freeReplyObject(cmd("SET sg:k v1"));
	r = cmd("GET sg:k");
	printf("set-get %s\n", r->str);
	freeReplyObject(r);

	for (int i = 0; i < 1000; i++) {
		switch (i % 8) {
		case 0: case 4: redisAppendCommand(c, "SET pl:%d v%d", i, i); break;
		case 1: case 5: redisAppendCommand(c, "INCR pl:ctr"); break;
		case 2: case 6: redisAppendCommand(c, "GET pl:%d", i - 2); break;
		case 3: redisAppendCommand(c, "RPUSH pl:list %d", i); break;
		default: redisAppendCommand(c, "GET pl:none:%d", i); break;
		}
	}
	long long ok = 0, ints = 0, sum = 0, strs = 0, bytes = 0, nils = 0, errs = 0;
	for (int i = 0; i < 1000; i++) {
		r = reply();
		switch (r->type) {
		case REDIS_REPLY_STATUS: ok += strcmp(r->str, "OK") == 0; break;
		case REDIS_REPLY_INTEGER: ints++; sum += r->integer; break;
		case REDIS_REPLY_STRING: strs++; bytes += r->len; break;
		case REDIS_REPLY_NIL: nils++; break;
		case REDIS_REPLY_ERROR: errs++; break;
		}
		freeReplyObject(r);
	}
	printf("pipeline n=%d ok=%lld ints=%lld sum=%lld strings=%lld bytes=%lld nils=%lld errors=%lld\n",
	       1000, ok, ints, sum, strs, bytes, nils, errs);

	const char *margv[101];
	char keys[50][8], vals[50][8];
	margv[0] = "MSET";
	for (int i = 0; i < 50; i++) {
		snprintf(keys[i], sizeof keys[i], "mk:%02d", i);
		snprintf(vals[i], sizeof vals[i], "mv%02d", i);
		margv[1 + 2 * i] = keys[i];
		margv[2 + 2 * i] = vals[i];
	}
	r = redisCommandArgv(c, 101, margv, NULL);
	if (r == NULL)
		die("MSET");
	printf("mset %s\n", r->str);
	freeReplyObject(r);
	margv[0] = "MGET";
	for (int i = 0; i < 50; i++)
		margv[1 + i] = keys[i];
	margv[51] = "mk:missing";
	r = redisCommandArgv(c, 52, margv, NULL);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		die("MGET");
	int mnils = 0;
	printf("mget n=%zu", r->elements);
	for (size_t i = 0; i < r->elements; i++)
		mnils += r->element[i]->type == REDIS_REPLY_NIL;
	printf(" nils=%d values=", mnils);
	int first = 1;
	for (size_t i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING)
			continue;
		printf("%s%s", first ? "" : ",", r->element[i]->str);
		first = 0;
	}
	printf("\n");
	freeReplyObject(r);

	freeReplyObject(cmd("SET {user1}:a 1"));
	freeReplyObject(cmd("SET {user1}:b 2"));
	redisReply *rn = cmd("RENAME {user1}:a {user1}:c");
	r = cmd("MGET {user1}:b {user1}:c");
	printf("hashtag rename=%s mget=%s,%s\n", rn->str, r->element[0]->str, r->element[1]->str);
	freeReplyObject(rn);
	freeReplyObject(r);

	rn = cmd("EVAL %s 1 ev:k hello", "redis.call('SET',KEYS[1],ARGV[1]) return redis.call('GET',KEYS[1])");
	r = cmd("EVAL %s 2 {ev}a {ev}b x", "return {KEYS[1],KEYS[2],ARGV[1]}");
	if (rn->type != REDIS_REPLY_STRING || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		die("EVAL");
	printf("eval %s %s,%s,%s\n", rn->str, r->element[0]->str, r->element[1]->str, r->element[2]->str);
	freeReplyObject(rn);
	freeReplyObject(r);

	for (int i = 0; i < 300; i++)
		redisAppendCommand(c, "SET scan:%03d x", i);
	for (int i = 0; i < 300; i++)
		freeReplyObject(reply());
	/* SCAN by hand, as hiredis users do: the cursor is an opaque string. */
	char *seen[4096];
	int nseen = 0;
	char cursor[64] = "0";
	do {
		r = cmd("SCAN %s MATCH scan:* COUNT 50", cursor);
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			die("SCAN");
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		redisReply *ks = r->element[1];
		for (size_t i = 0; i < ks->elements && nseen < 4096; i++)
			seen[nseen++] = strdup(ks->element[i]->str);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	qsort(seen, nseen, sizeof seen[0], cmpstr);
	int uniq = 0;
	for (int i = 0; i < nseen; i++)
		if (uniq == 0 || strcmp(seen[i], seen[uniq - 1]) != 0)
			seen[uniq++] = seen[i];
	printf("scan keys=%d first=%s last=%s\n", uniq, uniq ? seen[0] : "", uniq ? seen[uniq - 1] : "");

	redisAppendCommand(c, "SET pe:k v");
	redisAppendCommand(c, "INCR pe:k");
	redisAppendCommand(c, "LPUSH pe:k x");
	redisAppendCommand(c, "GET pe:k");
	printf("pipeline-error ");
	for (int i = 0; i < 4; i++) {
		r = reply();
		if (r->type == REDIS_REPLY_ERROR)
			printf("%s%s", i ? "|" : "", canonical(r->str));
		else if (r->type == REDIS_REPLY_INTEGER)
			printf("%s%lld", i ? "|" : "", r->integer);
		else
			printf("%s%s", i ? "|" : "", r->str);
		freeReplyObject(r);
	}
	printf("\n");

	margv[0] = "DEL";
	for (int i = 0; i < 50; i++)
		margv[1 + i] = keys[i];
	r = redisCommandArgv(c, 51, margv, NULL);
	if (r == NULL)
		die("DEL");
	printf("del %lld\n", r->integer);
	freeReplyObject(r);

	/* A second connection, for the concurrent writer, the pusher and the
	 * subscriber. */
	redisContext *c2 = redisConnect(argv[1], atoi(argv[2]));
	if (c2 == NULL || c2->err)
		die("connect");
	freeReplyObject(cmd("MULTI"));
	freeReplyObject(cmd("HSET {user:1000}:profile name Ada"));
	freeReplyObject(cmd("INCR {user:1000}:visits"));
	freeReplyObject(cmd("HGET {user:1000}:profile name"));
	r = cmd("EXEC");
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		die("EXEC");
	printf("multi-exec %lld,%lld,%s\n", r->element[0]->integer, r->element[1]->integer, r->element[2]->str);
	freeReplyObject(r);

	freeReplyObject(cmd("WATCH {user:1000}:visits"));
	freeReplyObject(on(c2, "INCR {user:1000}:visits"));
	freeReplyObject(cmd("MULTI"));
	freeReplyObject(cmd("SET {user:1000}:visits 100"));
	r = cmd("EXEC");
	printf("watch %s", r->type == REDIS_REPLY_NIL ? "aborted" : "applied");
	freeReplyObject(r);
	r = cmd("GET {user:1000}:visits");
	printf(" visits=%s\n", r->str);
	freeReplyObject(r);

	pthread_t pusher;
	if (pthread_create(&pusher, NULL, push, c2) != 0)
		die("pthread_create");
	r = cmd("BLPOP bl:q 5");
	pthread_join(pusher, NULL);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		die("BLPOP");
	printf("blpop woken=%s,%s", r->element[0]->str, r->element[1]->str);
	freeReplyObject(r);
	double start = now();
	r = cmd("BLPOP bl:none 1");
	printf(" timeout=%s waited=%s\n", r->type == REDIS_REPLY_NIL ? "nil" : "?", now() - start >= 0.9 ? "1s" : "short");
	freeReplyObject(r);

	struct timeval five = {5, 0};
	redisSetTimeout(c2, five);
	freeReplyObject(on(c2, "SUBSCRIBE ps:news"));
	r = cmd("PUBLISH ps:news hello");
	printf("pubsub receivers=%lld", r->integer);
	freeReplyObject(r);
	void *m = NULL;
	if (redisGetReply(c2, &m) != REDIS_OK || m == NULL)
		die("message");
	r = m;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		die("message");
	printf(" message=%s,%s\n", r->element[1]->str, r->element[2]->str);
	freeReplyObject(r);
	redisFree(c2);

	printf("restart\n");
	char line[16];
	if (fgets(line, sizeof line, stdin) == NULL)
		die("stdin");
	/* hiredis does not reconnect by itself: a failed command leaves the
	 * context in error, and redisReconnect dials again. */
	r = NULL;
	for (int i = 0; i < 100 && r == NULL; i++) {
		r = redisCommand(c, "PING");
		if (r == NULL) {
			usleep(100000);
			redisReconnect(c);
		}
	}
	if (r == NULL)
		die("reconnect");
	printf("reconnect %s", r->str);
	freeReplyObject(r);
	freeReplyObject(cmd("SET rs:k v2"));
	r = cmd("GET rs:k");
	printf(" %s\n", r->str);
	freeReplyObject(r);
	printf("done\n");
	redisFree(c);
	return 0;
}
