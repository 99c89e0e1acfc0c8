/* commands.h — the subcommands of the iris binary.
 *
 * Each subcommand lives in its own tui/cmd_<name>.c and is declared weak here,
 * so the dispatcher lists exactly the commands that are linked in.  Every
 * command returns the process exit status: 0 success, 1 runtime error (the
 * message already printed as "iris <cmd>: ..."), 2 usage error.
 */
#ifndef IRIS_COMMANDS_H
#define IRIS_COMMANDS_H

#define IRIS_VERSION "0.1.0"

typedef int (*iris_command_fn)(int argc, char **argv);

#define IRIS_WEAK __attribute__((weak))
IRIS_WEAK int cmd_run(int argc, char **argv);
IRIS_WEAK int cmd_chat(int argc, char **argv);
IRIS_WEAK int cmd_tokenize(int argc, char **argv);
IRIS_WEAK int cmd_bench(int argc, char **argv);
IRIS_WEAK int cmd_pull(int argc, char **argv);
IRIS_WEAK int cmd_ls(int argc, char **argv);
IRIS_WEAK int cmd_rm(int argc, char **argv);
IRIS_WEAK int cmd_train(int argc, char **argv);
IRIS_WEAK int cmd_export(int argc, char **argv);
IRIS_WEAK int cmd_eval(int argc, char **argv);
IRIS_WEAK int cmd_compose(int argc, char **argv);
IRIS_WEAK int cmd_gen_shapes(int argc, char **argv);
IRIS_WEAK int cmd_new_model(int argc, char **argv);
IRIS_WEAK int cmd_tui(int argc, char **argv);
IRIS_WEAK int cmd_image_preprocess(int argc, char **argv);
IRIS_WEAK int cmd_vision_encode(int argc, char **argv);
IRIS_WEAK int cmd_inspect(int argc, char **argv);

#endif
