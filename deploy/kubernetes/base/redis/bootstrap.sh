#!/bin/sh
# Init of a Redis+Sentinel pod: find the current master (ask the Sentinels; none answer on a
# first start, then redis-0 is the master), write redis.conf and sentinel.conf into /data.
set -eu
SELF="$(hostname).redis-headless.${POD_NAMESPACE}.svc.cluster.local"
FIRST="redis-0.redis-headless.${POD_NAMESPACE}.svc.cluster.local"
MASTER="$(redis-cli -h redis-sentinel -p 26379 --raw sentinel get-master-addr-by-name balise 2>/dev/null | head -n 1 || true)"
[ -n "$MASTER" ] || MASTER="$FIRST"
cp /config/redis.conf /data/redis.conf
echo "replica-announce-ip $SELF" >> /data/redis.conf
if [ "$MASTER" != "$SELF" ]; then
  echo "replicaof $MASTER 6379" >> /data/redis.conf
fi
cp /config/sentinel.conf /data/sentinel.conf
{
  echo "sentinel announce-ip $SELF"
  echo "sentinel monitor balise $MASTER 6379 2"
  echo "sentinel down-after-milliseconds balise 5000"
  echo "sentinel failover-timeout balise 60000"
  echo "sentinel parallel-syncs balise 1"
} >> /data/sentinel.conf
echo "master: $MASTER"
