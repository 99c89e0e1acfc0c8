/* zip_reader.h — the central directory of a zip archive held in memory.
 *
 * torch.save (>= 1.6) writes a zip archive whose entries are STORED
 * (uncompressed) and 64-byte aligned, so tensor data can be used in place from
 * an mmap'd file.  This reader only lists entries: name, where the entry's
 * bytes start in the buffer and how many there are.  It understands zip64 (end
 * of central directory record + locator, and the 0x0001 extra field) as torch
 * writes it for files over 4 GiB.
 *
 * Contract: iris_zip_parse validates every count, offset and size against the
 * buffer (the local header of each entry included) and fails with a one-line
 * message naming LABEL.  Compressed or encrypted entries are listed (method
 * != 0) but iris_zip_data refuses them with a message.  Duplicate names are an
 * error.  Names are NUL-terminated copies; entries borrow nothing else.
 */
#ifndef IRIS_ZIP_READER_H
#define IRIS_ZIP_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;
    uint64_t offset;   /* first data byte, from the start of the buffer */
    uint64_t size;     /* compressed size (= size for stored entries) */
    int method;        /* 0: stored */
    int encrypted;
} iris_zip_entry;

typedef struct iris_zip {
    const uint8_t *buf;
    size_t len;
    const char *label;            /* borrowed, for messages */
    int n_entries;
    iris_zip_entry *entries;
    struct iris_name_index *index;
} iris_zip;

/* 1 when the buffer starts with a local file header signature ("PK\3\4"). */
int iris_zip_looks_like(const void *buf, size_t len);
int iris_zip_parse(iris_zip *z, const void *buf, size_t len, const char *label);
void iris_zip_free(iris_zip *z);
const iris_zip_entry *iris_zip_find(const iris_zip *z, const char *name);
/* The bytes of a stored entry; NULL with a message when absent, compressed or
 * encrypted.  *size receives the length. */
const uint8_t *iris_zip_data(const iris_zip *z, const char *name, uint64_t *size);

#endif
