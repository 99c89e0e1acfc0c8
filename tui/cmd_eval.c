/* iris eval — accuracy of a model on a VQA-style question set. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "core/error.h"
#include "core/timer.h"
#include "eval/evaluate.h"
#include "nets/generate_batch.h"
#include "text/chat_template.h"

static volatile sig_atomic_t stop_eval;
static void on_sigint(int sig) { (void)sig; stop_eval = 1; }

static void usage(FILE *f)
{
    fprintf(f,
        "usage: iris eval [-m MODEL] --data FILE [--annotations FILE] [--images DIR]\n"
        "                 [--metric vqav2|aokvqa-da|aokvqa-mc|exact] [--limit N] [-o results.json]\n"
        "  --data FILE          VQAv2 questions JSON (+ --annotations), A-OKVQA JSON, a JSONL\n"
        "                       question file (LLaVA-style, the shapes world), LLaVA JSON or\n"
        "                       PubMedQA JSON (text only; + --annotations for the test labels)\n"
        "  --images DIR         where image paths are resolved (default: beside FILE)\n"
        "  --metric M           default vqav2\n"
        "  --limit N            the first N questions\n"
        "  --prompt-suffix TEXT appended to each question (LLaVA's VQAv2 prompt: \"Answer the\n"
        "                       question using a single word or phrase.\")\n"
        "  --template NAME      chat template (default: the model's)\n"
        "  -n N                 most answer tokens (default 24)\n"
        "  --batch N            questions answered together (default %d, fewer when their KV\n"
        "                       caches would pass %d MiB); 1 = one at a time.  LLaMA-family\n"
        "                       decoders (LLaVA or text); OpenFlamingo, MPT, GPT-NeoX and\n"
        "                       BioGPT models always go one at a time\n"
        "  --preprocess MODE    pad (default), crop or resize\n"
        "  --mmproj FILE        llama.cpp vision projector (.gguf) for a GGUF language model\n"
        "  --shots K            OpenFlamingo models: K in-context examples per question, in\n"
        "                       OpenFlamingo's prompt \"<image>Question:Q Short answer:A<|endofchunk|>\"\n"
        "                       (LLaVA and text-only models refuse K > 0)\n"
        "  --support FILE       where the examples are drawn from (same formats as --data;\n"
        "                       default: the --data set minus the question); --seed S seeds the draw\n"
        "  -o FILE              write results as JSON (overall, per_type, n, predictions)\n"
        "  -t N, --device D     threads, backend\n",
        IRIS_EVAL_DEFAULT_BATCH, IRIS_EVAL_BATCH_CACHE_MIB);
}

typedef struct {
    int tty;
    double t0;   /* when answering started, for the rate */
} progress_state;

static void progress(int done, int total, double acc, void *ud)
{
    progress_state *p = ud;
    double dt = iris_now() - p->t0, rate = dt > 0 ? done / dt : 0;
    if (p->tty) {
        int w = 30, fill = total ? done * w / total : w;
        fprintf(stderr, "\r[%.*s%*s] %d/%d  accuracy %.1f%%  %.1f q/s ", fill, "##############################",
                w - fill, "", done, total, acc, rate);
        if (done == total) fputc('\n', stderr);
    } else if (done == total || done % 100 == 0) {
        fprintf(stderr, "iris eval: %d/%d accuracy %.1f%% (%.1f questions/s)\n", done, total, acc, rate);
    }
}

int cmd_eval(int argc, char **argv)
{
    cli_model_opts o;
    cli_model_opts_init(&o, "eval");
    const char *data = NULL, *ann = NULL, *images = NULL, *out = NULL, *tpl_name = NULL;
    iris_eval_opts eo = {.metric = IRIS_METRIC_VQAV2, .n_predict = 24, .tpl = -1};
    iris_lm_options lo_opts = {0};
    enum { O_DATA = 256, O_ANN, O_IMG, O_METRIC, O_LIMIT, O_SUFFIX, O_TPL, O_PRE, O_MMPROJ, O_SHOTS, O_SUPPORT, O_BATCH };
    const char *support = NULL;
    static const struct option lo[] = {
        CLI_MODEL_LONG_OPTIONS, {"data", 1, 0, O_DATA}, {"annotations", 1, 0, O_ANN}, {"images", 1, 0, O_IMG},
        {"metric", 1, 0, O_METRIC}, {"limit", 1, 0, O_LIMIT}, {"prompt-suffix", 1, 0, O_SUFFIX},
        {"template", 1, 0, O_TPL}, {"preprocess", 1, 0, O_PRE}, {"output", 1, 0, 'o'}, {"help", 0, 0, 'h'},
        {"mmproj", 1, 0, O_MMPROJ}, {"shots", 1, 0, O_SHOTS}, {"support", 1, 0, O_SUPPORT},
        {"batch", 1, 0, O_BATCH}, {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, CLI_MODEL_SHORT_OPTIONS "o:h", lo, NULL)) != -1) {
        int r = cli_model_option(&o, c, optarg);
        if (r) {
            bad = r < 0;
            if (c == 'n') eo.n_predict = o.gen.n_predict;
            continue;
        }
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_ANN: ann = optarg; break;
        case O_IMG: images = optarg; break;
        case O_METRIC: {
            int m = iris_metric_from_name(optarg);
            if (m < 0) {
                fprintf(stderr, "iris eval: --metric must be vqav2, aokvqa-da, aokvqa-mc or exact\n");
                bad = 1;
            }
            eo.metric = (iris_metric)m;
            break;
        }
        case O_LIMIT: bad = cli_parse_int("eval", "--limit", optarg, 1, 1 << 30, &eo.limit); break;
        case O_SUFFIX: eo.prompt_suffix = optarg; break;
        case O_TPL: tpl_name = optarg; break;
        case O_PRE: bad = cli_parse_preprocess("eval", optarg, &lo_opts) != 0; break;
        case O_MMPROJ: lo_opts.mmproj = optarg; break;
        case O_SHOTS: bad = cli_parse_int("eval", "--shots", optarg, 0, 64, &eo.shots); break;
        case O_SUPPORT: support = optarg; break;
        case O_BATCH: bad = cli_parse_int("eval", "--batch", optarg, 1, 1024, &eo.batch); break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: bad = 1;
        }
    }
    if (bad) return 2;
    if (!data) {
        fprintf(stderr, "iris eval: --data FILE is required\n");
        usage(stderr);
        return 2;
    }
    if (tpl_name && (eo.tpl = iris_chat_template_from_name(tpl_name)) < 0) {
        fprintf(stderr, "iris eval: unknown template '%s'\n", tpl_name);
        return 2;
    }
    iris_eval_set set;
    if (iris_eval_load(&set, data, ann, images)) {
        fprintf(stderr, "iris eval: %s\n", iris_last_error());
        return 1;
    }
    iris_eval_set sup = {0};
    if (support && iris_eval_load(&sup, support, NULL, images)) {
        fprintf(stderr, "iris eval: %s\n", iris_last_error());
        iris_eval_free(&set);
        return 1;
    }
    if (support) eo.support = &sup;
    eo.seed = o.gen.sampling.seed;
    iris_lm lm;
    int load_rc = cli_load_model(&o, &lo_opts, &lm);
    if (load_rc) {
        iris_eval_free(&set);
        if (support) iris_eval_free(&sup);
        return load_rc;
    }
    if (eo.batch > 1 && !iris_gen_batch_supported(&lm))
        fprintf(stderr, "iris eval: %s: one question at a time\n", iris_last_error());
    progress_state ps = {.tty = isatty(STDERR_FILENO), .t0 = iris_now()};
    eo.progress = progress;
    eo.ud = &ps;
    eo.stop = &stop_eval;
    signal(SIGINT, on_sigint);
    iris_eval_result r;
    int rc = 1;
    if (iris_evaluate(&lm, &set, &eo, &r)) {
        fprintf(stderr, "\niris eval: %s\n", iris_last_error());
        iris_eval_result_free(&r);
        goto done;
    }
    printf("%s accuracy on %d questions (%s): %.2f%%\n", iris_metric_name(eo.metric), r.n, set.format, r.overall);
    for (int t = 0; t < r.n_types; t++) printf("  %-20s %6.2f%%  (%d)\n", r.types[t], r.type_acc[t], r.type_n[t]);
    printf("%.1f s, %.3f s per question\n", r.seconds, r.n ? r.seconds / r.n : 0.0);
    if (out && iris_eval_write_json(&r, &set, o.model, eo.metric, out)) {
        fprintf(stderr, "iris eval: %s\n", iris_last_error());
        iris_eval_result_free(&r);
        goto done;
    }
    rc = stop_eval ? 1 : 0;
    iris_eval_result_free(&r);
done:
    iris_lm_free(&lm);
    iris_eval_free(&set);
    if (support) iris_eval_free(&sup);
    return rc;
}
