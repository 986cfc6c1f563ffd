/* The floor of the MAVG benchmarks: the least a Redis module can do to keep
 * a moving average, so `make bench` can tell the module's own cost from
 * what any module command costs.
 *
 * A data type holding a ring of the last FLOOR_WINDOW doubles and their
 * running sum (a plain double, which drifts; MAVG's does not), and two
 * commands:
 *
 *   FLOOR.ADD key value   adds one value, creating the key if missing;
 *                         replies the number of values held
 *   FLOOR.AVG key         replies the average as a double, nil if missing
 *
 * scripts/bench.py builds it with gcc against the redismodule.h that the
 * redis-module crate ships, and loads it next to MAVG. */

#include <stdio.h>
#include <string.h>

#include "redismodule.h"

#define FLOOR_WINDOW 100
#define FLOOR_ENCODING 0

/* The value of a FLOOR key: the slot the next value goes to, how many
 * values are held, their running sum and the values. */
typedef struct FloorRing {
    long long next;
    long long len;
    double sum;
    double values[FLOOR_WINDOW];
} FloorRing;

static RedisModuleType *FloorType;

/* Adds value to ring, pushing out the oldest value once it is full. */
static void ring_push(FloorRing *ring, double value) {
    if (ring->len == FLOOR_WINDOW)
        ring->sum -= ring->values[ring->next];
    else
        ring->len++;
    ring->values[ring->next] = value;
    ring->sum += value;
    ring->next = (ring->next + 1) % FLOOR_WINDOW;
}

/* The i-th value of ring, 0 the oldest. */
static double ring_at(const FloorRing *ring, long long i) {
    long long oldest = ring->len == FLOOR_WINDOW ? ring->next : 0;
    return ring->values[(oldest + i) % FLOOR_WINDOW];
}

/* FLOOR.ADD key value */
static int add_command(RedisModuleCtx *ctx, RedisModuleString **argv,
                       int argc) {
    double value;
    if (argc != 3)
        return RedisModule_WrongArity(ctx);
    if (RedisModule_StringToDouble(argv[2], &value) != REDISMODULE_OK)
        return RedisModule_ReplyWithError(ctx,
                                          "ERR value is not a valid float");

    RedisModuleKey *key = RedisModule_OpenKey(
        ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE);
    FloorRing *ring;
    if (RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_EMPTY) {
        ring = RedisModule_Calloc(1, sizeof(*ring));
        RedisModule_ModuleTypeSetValue(key, FloorType, ring);
    } else if (RedisModule_ModuleTypeGetType(key) == FloorType) {
        ring = RedisModule_ModuleTypeGetValue(key);
    } else {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx,
                                          REDISMODULE_ERRORMSG_WRONGTYPE);
    }
    ring_push(ring, value);
    RedisModule_CloseKey(key);

    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithLongLong(ctx, ring->len);
}

/* FLOOR.AVG key */
static int avg_command(RedisModuleCtx *ctx, RedisModuleString **argv,
                       int argc) {
    if (argc != 2)
        return RedisModule_WrongArity(ctx);

    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1],
                                              REDISMODULE_READ);
    int type = RedisModule_KeyType(key);
    if (type != REDISMODULE_KEYTYPE_EMPTY &&
        RedisModule_ModuleTypeGetType(key) != FloorType) {
        RedisModule_CloseKey(key);
        return RedisModule_ReplyWithError(ctx,
                                          REDISMODULE_ERRORMSG_WRONGTYPE);
    }
    FloorRing *ring = type == REDISMODULE_KEYTYPE_EMPTY
                          ? NULL
                          : RedisModule_ModuleTypeGetValue(key);
    RedisModule_CloseKey(key);

    if (ring == NULL || ring->len == 0)
        return RedisModule_ReplyWithNull(ctx);
    return RedisModule_ReplyWithDouble(ctx, ring->sum / ring->len);
}

/* Writes the values, oldest first, after their count. */
static void floor_rdb_save(RedisModuleIO *io, void *value) {
    FloorRing *ring = value;
    RedisModule_SaveUnsigned(io, (uint64_t)ring->len);
    for (long long i = 0; i < ring->len; i++)
        RedisModule_SaveDouble(io, ring_at(ring, i));
}

/* Reads what floor_rdb_save wrote; NULL for another encoding or a count
 * past the window. */
static void *floor_rdb_load(RedisModuleIO *io, int encver) {
    if (encver != FLOOR_ENCODING)
        return NULL;
    uint64_t len = RedisModule_LoadUnsigned(io);
    if (len > FLOOR_WINDOW)
        return NULL;
    FloorRing *ring = RedisModule_Calloc(1, sizeof(*ring));
    for (uint64_t i = 0; i < len; i++)
        ring_push(ring, RedisModule_LoadDouble(io));
    return ring;
}

/* Emits one FLOOR.ADD per value, oldest first. */
static void floor_aof_rewrite(RedisModuleIO *aof, RedisModuleString *key,
                              void *value) {
    FloorRing *ring = value;
    char text[32];
    for (long long i = 0; i < ring->len; i++) {
        snprintf(text, sizeof(text), "%.17g", ring_at(ring, i));
        RedisModule_EmitAOF(aof, "FLOOR.ADD", "sc", key, text);
    }
}

/* Frees a value. */
static void floor_free(void *value) {
    RedisModule_Free(value);
}

/* The size of a value, for MEMORY USAGE. */
static size_t floor_mem_usage(const void *value) {
    (void)value;
    return sizeof(FloorRing);
}

/* Registers the type and the two commands. */
int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv,
                       int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "floor", 1, REDISMODULE_APIVER_1) ==
        REDISMODULE_ERR)
        return REDISMODULE_ERR;

    RedisModuleTypeMethods methods = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = floor_rdb_load,
        .rdb_save = floor_rdb_save,
        .aof_rewrite = floor_aof_rewrite,
        .mem_usage = floor_mem_usage,
        .free = floor_free,
    };
    FloorType = RedisModule_CreateDataType(ctx, "mavgfloor", FLOOR_ENCODING,
                                           &methods);
    if (FloorType == NULL)
        return REDISMODULE_ERR;

    if (RedisModule_CreateCommand(ctx, "floor.add", add_command,
                                  "write deny-oom", 1, 1, 1) ==
            REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "floor.avg", avg_command,
                                  "readonly fast", 1, 1, 1) ==
            REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
