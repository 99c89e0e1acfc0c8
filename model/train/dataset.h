/* dataset.h — a training set in LLaVA's JSON format (or JSON Lines), indexed
 * in one pass and read record by record: only byte offsets stay in memory, so
 * LLaVA's 665k-record (~1 GB) file costs ~10 MB.
 *
 * Accepted: a JSON list of objects, or one object per line.  The index pass
 * checks the structure (balanced braces and brackets, strings closed, commas
 * between records) and fails with the byte offset and record number of the
 * first problem; a record's own content is parsed (cJSON) only when read.
 *
 * Order: iris_dataset_order fills a permutation of the records for an epoch,
 * a pure function of (seed, epoch), so a resumed run sees the same order.
 */
#ifndef IRIS_TRAIN_DATASET_H
#define IRIS_TRAIN_DATASET_H

#include <stdint.h>
#include <stdio.h>

struct cJSON;

typedef struct {
    char *path;
    FILE *f;
    int64_t *off;       /* start of record i */
    int32_t *len;       /* its length in bytes */
    int n, cap;
} iris_dataset;

int iris_dataset_open(iris_dataset *d, const char *path);
void iris_dataset_close(iris_dataset *d);
/* Parses record i; NULL with an error naming the file, record and offset. */
struct cJSON *iris_dataset_record(const iris_dataset *d, int i);
/* perm[n]: identity when shuffle is 0, else a seeded Fisher-Yates shuffle. */
void iris_dataset_order(int n, uint64_t seed, int epoch, int shuffle, int32_t *perm);

#endif
