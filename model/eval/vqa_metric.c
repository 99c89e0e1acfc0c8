#include "vqa_metric.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char punct_chars[] = ";:/'[]\"()=+\\_><@`,?";

/* The contraction table of the official evaluation (word without apostrophe
 * -> with), as data; ’ is U+2019 as there. */
static const char *const contractions[][2] = {
    {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
    {"couldnt", "couldn't"}, {"couldn'tve", "couldn\u2019t\u2019ve"}, {"couldnt\u2019ve", "couldn\u2019t\u2019ve"},
    {"didnt", "didn\u2019t"}, {"doesnt", "doesn\u2019t"}, {"dont", "don\u2019t"}, {"hadnt", "hadn\u2019t"},
    {"hadnt\u2019ve", "hadn\u2019t\u2019ve"}, {"hadn'tve", "hadn\u2019t\u2019ve"}, {"hasnt", "hasn\u2019t"},
    {"havent", "haven\u2019t"}, {"hed", "he\u2019d"}, {"hed\u2019ve", "he\u2019d\u2019ve"},
    {"he\u2019dve", "he\u2019d\u2019ve"}, {"hes", "he\u2019s"}, {"howd", "how\u2019d"}, {"howll", "how\u2019ll"},
    {"hows", "how\u2019s"}, {"Id\u2019ve", "I\u2019d\u2019ve"}, {"I\u2019dve", "I\u2019d\u2019ve"}, {"Im", "I\u2019m"},
    {"Ive", "I\u2019ve"}, {"isnt", "isn\u2019t"}, {"itd", "it\u2019d"}, {"itd\u2019ve", "it\u2019d\u2019ve"},
    {"it\u2019dve", "it\u2019d\u2019ve"}, {"itll", "it\u2019ll"}, {"let\u2019s", "let\u2019s"}, {"maam", "ma\u2019am"},
    {"mightnt", "mightn\u2019t"}, {"mightnt\u2019ve", "mightn\u2019t\u2019ve"}, {"mightn\u2019tve", "mightn\u2019t\u2019ve"},
    {"mightve", "might\u2019ve"}, {"mustnt", "mustn\u2019t"}, {"mustve", "must\u2019ve"}, {"neednt", "needn\u2019t"},
    {"notve", "not\u2019ve"}, {"oclock", "o\u2019clock"}, {"oughtnt", "oughtn\u2019t"},
    {"ow\u2019s\u2019at", "\u2019ow\u2019s\u2019at"}, {"\u2019ows\u2019at", "\u2019ow\u2019s\u2019at"},
    {"\u2019ow\u2019sat", "\u2019ow\u2019s\u2019at"}, {"shant", "shan\u2019t"}, {"shed\u2019ve", "she\u2019d\u2019ve"},
    {"she\u2019dve", "she\u2019d\u2019ve"}, {"she\u2019s", "she\u2019s"}, {"shouldve", "should\u2019ve"},
    {"shouldnt", "shouldn\u2019t"}, {"shouldnt\u2019ve", "shouldn\u2019t\u2019ve"},
    {"shouldn\u2019tve", "shouldn\u2019t\u2019ve"}, {"somebody\u2019d", "somebodyd"},
    {"somebodyd\u2019ve", "somebody\u2019d\u2019ve"}, {"somebody\u2019dve", "somebody\u2019d\u2019ve"},
    {"somebodyll", "somebody\u2019ll"}, {"somebodys", "somebody\u2019s"}, {"someoned", "someone\u2019d"},
    {"someoned\u2019ve", "someone\u2019d\u2019ve"}, {"someone\u2019dve", "someone\u2019d\u2019ve"},
    {"someonell", "someone\u2019ll"}, {"someones", "someone\u2019s"}, {"somethingd", "something\u2019d"},
    {"somethingd\u2019ve", "something\u2019d\u2019ve"}, {"something\u2019dve", "something\u2019d\u2019ve"},
    {"somethingll", "something\u2019ll"}, {"thats", "that\u2019s"}, {"thered", "there\u2019d"},
    {"thered\u2019ve", "there\u2019d\u2019ve"}, {"there\u2019dve", "there\u2019d\u2019ve"}, {"therere", "there\u2019re"},
    {"theres", "there\u2019s"}, {"theyd", "they\u2019d"}, {"theyd\u2019ve", "they\u2019d\u2019ve"},
    {"they\u2019dve", "they\u2019d\u2019ve"}, {"theyll", "they\u2019ll"}, {"theyre", "they\u2019re"},
    {"theyve", "they\u2019ve"}, {"twas", "\u2019twas"}, {"wasnt", "wasn\u2019t"}, {"wed\u2019ve", "we\u2019d\u2019ve"},
    {"we\u2019dve", "we\u2019d\u2019ve"}, {"weve", "we've"}, {"werent", "weren\u2019t"}, {"whatll", "what\u2019ll"},
    {"whatre", "what\u2019re"}, {"whats", "what\u2019s"}, {"whatve", "what\u2019ve"}, {"whens", "when\u2019s"},
    {"whered", "where\u2019d"}, {"wheres", "where's"}, {"whereve", "where\u2019ve"}, {"whod", "who\u2019d"},
    {"whod\u2019ve", "who\u2019d\u2019ve"}, {"who\u2019dve", "who\u2019d\u2019ve"}, {"wholl", "who\u2019ll"},
    {"whos", "who\u2019s"}, {"whove", "who've"}, {"whyll", "why\u2019ll"}, {"whyre", "why\u2019re"},
    {"whys", "why\u2019s"}, {"wont", "won\u2019t"}, {"wouldve", "would\u2019ve"}, {"wouldnt", "wouldn\u2019t"},
    {"wouldnt\u2019ve", "wouldn\u2019t\u2019ve"}, {"wouldn\u2019tve", "wouldn\u2019t\u2019ve"}, {"yall", "y\u2019all"},
    {"yall\u2019ll", "y\u2019all\u2019ll"}, {"y\u2019allll", "y\u2019all\u2019ll"}, {"yall\u2019d\u2019ve", "y\u2019all\u2019d\u2019ve"},
    {"y\u2019alld\u2019ve", "y\u2019all\u2019d\u2019ve"}, {"y\u2019all\u2019dve", "y\u2019all\u2019d\u2019ve"},
    {"youd", "you\u2019d"}, {"youd\u2019ve", "you\u2019d\u2019ve"}, {"you\u2019dve", "you\u2019d\u2019ve"},
    {"youll", "you\u2019ll"}, {"youre", "you\u2019re"}, {"youve", "you\u2019ve"},
};

static const char *const number_words[][2] = {
    {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"}, {"four", "4"},
    {"five", "5"}, {"six", "6"}, {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"},
};

/* "digit,digit" anywhere in the text */
static int has_digit_comma_digit(const char *s)
{
    if (!s[0]) return 0;   /* s[1] would be past the end */
    for (size_t i = 1; s[i] && s[i + 1]; i++)
        if (s[i] == ',' && isdigit((unsigned char)s[i - 1]) && isdigit((unsigned char)s[i + 1])) return 1;
    return 0;
}

static int touches_space(const char *s, char p)
{
    for (size_t i = 0; s[i]; i++)
        if (s[i] == p && ((s[i + 1] == ' ') || (i > 0 && s[i - 1] == ' '))) return 1;
    return 0;
}

char *iris_vqa_process_punctuation(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    /* decide per punctuation character on the original text, as the official code does */
    int remove[256] = {0};
    int dcd = has_digit_comma_digit(in);
    for (const char *p = punct_chars; *p; p++) remove[(unsigned char)*p] = dcd || touches_space(in, *p) ? 1 : 2;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (remove[c] == 1) continue;
        out[o++] = remove[c] == 2 ? ' ' : (char)c;
    }
    out[o] = 0;
    /* periods not followed by a digit go */
    size_t w = 0;
    for (size_t i = 0; i < o; i++) {
        if (out[i] == '.' && !isdigit((unsigned char)out[i + 1])) continue;
        out[w++] = out[i];
    }
    out[w] = 0;
    return out;
}

char *iris_vqa_process_digit_article(const char *in)
{
    size_t n = strlen(in);
    char *low = malloc(n + 1), *out = malloc(4 * n + 16);
    if (!low || !out) {
        free(low);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)in[i]);
    size_t o = 0;
    char *save = NULL;
    for (char *w = strtok_r(low, " \t\n\r\v\f", &save); w; w = strtok_r(NULL, " \t\n\r\v\f", &save)) {
        const char *word = w;
        for (size_t k = 0; k < sizeof number_words / sizeof *number_words; k++)
            if (!strcmp(word, number_words[k][0])) word = number_words[k][1];
        if (!strcmp(word, "a") || !strcmp(word, "an") || !strcmp(word, "the")) continue;
        for (size_t k = 0; k < sizeof contractions / sizeof *contractions; k++)
            if (!strcmp(word, contractions[k][0])) {
                word = contractions[k][1];
                break;
            }
        size_t l = strlen(word);
        if (o) out[o++] = ' ';
        if (o + l + 1 > 4 * n + 16) break;
        memcpy(out + o, word, l);
        o += l;
    }
    out[o] = 0;
    free(low);
    return out;
}

char *iris_vqa_normalize_prediction(const char *text)
{
    size_t n = strlen(text);
    char *t = malloc(n + 1);
    if (!t) return NULL;
    for (size_t i = 0; i <= n; i++) t[i] = text[i] == '\n' || text[i] == '\t' ? ' ' : text[i];
    /* strip() */
    char *a = t;
    while (*a && isspace((unsigned char)*a)) a++;
    char *e = a + strlen(a);
    while (e > a && isspace((unsigned char)e[-1])) *--e = 0;
    char *p = iris_vqa_process_punctuation(a);
    free(t);
    if (!p) return NULL;
    char *d = iris_vqa_process_digit_article(p);
    free(p);
    return d;
}

double iris_vqa_accuracy(const char *prediction, const char *const *answers, int n)
{
    if (n <= 0) return -1;
    char *pred = iris_vqa_normalize_prediction(prediction);
    char **gt = calloc((size_t)n, sizeof *gt);
    double acc = -1;
    if (!pred || !gt) goto done;
    int all_same = 1;
    for (int i = 1; i < n; i++) all_same &= !strcmp(answers[i], answers[0]);
    for (int i = 0; i < n; i++) {
        gt[i] = all_same ? strdup(answers[i]) : iris_vqa_process_punctuation(answers[i]);
        if (!gt[i]) goto done;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        int match = 0;
        for (int j = 0; j < n; j++) match += j != i && !strcmp(gt[j], pred);
        sum += match >= 3 ? 1.0 : match / 3.0;
    }
    acc = n == 1 ? (strcmp(gt[0], pred) ? 0.0 : 1.0) : sum / n;
done:
    for (int i = 0; gt && i < n; i++) free(gt[i]);
    free(gt);
    free(pred);
    return acc;
}

double iris_aokvqa_da_accuracy(const char *prediction, const char *const *answers, int n)
{
    if (n <= 0) return -1;
    char *pred = iris_vqa_normalize_prediction(prediction);
    if (!pred) return -1;
    int match = 0;
    for (int i = 0; i < n; i++) match += !strcmp(answers[i], pred);
    free(pred);
    return match >= 3 ? 1.0 : match / 3.0;
}

double iris_exact_accuracy(const char *prediction, const char *answer)
{
    char *p = iris_vqa_normalize_prediction(prediction), *a = iris_vqa_normalize_prediction(answer);
    double r = p && a ? (strcmp(p, a) ? 0.0 : 1.0) : -1;
    free(p);
    free(a);
    return r;
}
