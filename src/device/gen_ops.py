#!/usr/bin/env python3
"""gen_ops.py — generates the device layer's op plumbing from the one list, ops.def.

Usage: gen_ops.py OPS_DEF OUTDIR
Writes into OUTDIR:
  ops_api.h         public prototypes kr_op_NAME with their comments (included by device/ops.h)
  ops_gen.h         private: the kernel enum (KR_K_*), kernel names, host dispatchers kr_host_NAME
  ops_gen.c         the kernel names and every kr_op_NAME: validation, host dispatch, OpenCL
                    arguments and launch (through the helpers of ops_run.h)
  ops_host_gen.inc  kr_host_NAME: picks the float32/float64 instantiation of the host loop
                    (included at the end of ops_host.c, after the loops)
The format of ops.def is described at its top. Output is deterministic (same list, same bytes).
"""
import os
import re
import sys

SCALARS = {"real": "double", "int": "int", "bool": "bool", "act": "kr_act", "long": "long"}
TENSORS = {"in", "out", "inout"}
# Names the generated functions use themselves; items may not take them.
RESERVED = {"op", "rows", "cols", "n", "vals", "tensors", "standin", "launch", "scal", "slot",
            "dt"}


class Item:
    def __init__(self, kind, name, optional=False, row=None, api=True, expr=None):
        # row: None (TENSOR's shape), "row" (1 x cols) or "col" (rows x 1)
        self.kind, self.name, self.optional, self.row = kind, name, optional, row
        self.api, self.expr = api, expr

    @property
    def tensor(self):
        return self.kind in TENSORS

    def c_param(self):  # in the API
        if self.tensor:
            return f"{'const ' if self.kind == 'in' else ''}kr_tensor *{self.name}"
        return f"{SCALARS[self.kind]} {self.name}"

    def loop_param(self):  # in the host loop / dispatcher
        if self.tensor:
            return f"{'const ' if self.kind == 'in' else ''}void *{self.name}"
        return f"{SCALARS[self.kind]} {self.name}"


class Op:
    def __init__(self, name, kind, nvals, over, line):
        self.name, self.kind, self.nvals, self.over, self.line = name, kind, nvals, over, line
        self.items, self.checks, self.doc = [], [], []

    @property
    def tensors(self):
        return [i for i in self.items if i.tensor]


def fail(path, line, msg):
    sys.exit(f"{path}:{line}: {msg}")


def parse(path):
    ops = []
    op = None
    for ln, raw in enumerate(open(path, encoding="utf-8"), 1):
        text = raw.rstrip("\n")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if not text[0].isspace():
            m = re.fullmatch(r"op (\w+) (map|rows|cols|rowreduce|(?:col)?reduce (\d+)) over (\w+)",
                             text.strip())
            if not m:
                fail(path, ln, f"expected 'op NAME KIND over TENSOR', got: {text.strip()}")
            kind = m.group(2).split()[0]
            op = Op(m.group(1), kind, int(m.group(3) or 0), m.group(4), ln)
            if any(o.name == op.name for o in ops):
                fail(path, ln, f"op '{op.name}' listed twice")
            ops.append(op)
            continue
        if op is None:
            fail(path, ln, "item before the first 'op' line")
        body = text.strip()
        word, _, rest = body.partition(" ")
        if word == "doc":
            op.doc.append(rest)
        elif word == "check":
            expr, sep, msg = rest.partition(" : ")
            if not sep:
                fail(path, ln, "check needs 'EXPR : \"FORMAT\", ARGS'")
            m = re.fullmatch(r'("(?:[^"\\]|\\.)*")\s*,\s*(.+)', msg.strip())
            if not m:
                fail(path, ln, 'check needs \'EXPR : "FORMAT", ARGS\'')
            op.checks.append((expr.strip(), (m.group(1), m.group(2))))
        elif word.rstrip("?") in TENSORS:
            words = rest.split()
            if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("row", "col")):
                fail(path, ln, f"expected '{word} NAME [row|col]'")
            op.items.append(Item(word.rstrip("?"), words[0], optional=word.endswith("?"),
                                 row=words[1] if len(words) == 2 else None))
        elif word in SCALARS:
            m = re.fullmatch(r"(\w+)(?: (api)| = (.+))?", rest)
            if not m:
                fail(path, ln, f"expected '{word} NAME', '{word} NAME api' or '{word} NAME = EXPR'")
            if word == "long" and not m.group(2):
                fail(path, ln, "long items are API-only: write 'long NAME api'")
            if m.group(2) and word != "long":
                fail(path, ln, "only long items may be API-only")
            op.items.append(Item(word, m.group(1), api=m.group(3) is None, expr=m.group(3)))
        else:
            fail(path, ln, f"unknown item '{word}'")
    for op in ops:
        names = [i.name for i in op.items]
        taken = RESERVED.intersection(names)
        if taken:
            fail(path, op.line, f"op '{op.name}': item name(s) {sorted(taken)} are reserved")
        if len(set(names)) != len(names):
            fail(path, op.line, f"op '{op.name}': an item name is used twice")
        over = [i for i in op.tensors if i.name == op.over]
        if not over or over[0].optional or over[0].row:
            fail(path, op.line, f"op '{op.name}': 'over {op.over}' must name a plain tensor item")
        if any(i.row == "col" for i in op.items) and op.kind not in ("rows", "rowreduce",
                                                                      "colreduce"):
            fail(path, op.line, f"op '{op.name}': a 'col' operand needs kind 'rows', "
                 "'rowreduce' or 'colreduce'")
        if any(i.row == "col" and i.kind != "in" for i in op.items) and op.kind != "rowreduce":
            fail(path, op.line, f"op '{op.name}': only kind 'rowreduce' writes a 'col' operand")
        if op.kind in ("reduce", "colreduce") and op.nvals < 1:
            fail(path, op.line, f"op '{op.name}': {op.kind} needs K >= 1")
    return ops


def down_items(op):
    return [i for i in op.items if i.kind != "long"]


def api_items(op):
    return [i for i in op.items if i.api]


def loop_head(op):
    return ["size_t n"] if op.kind in ("map", "reduce") else ["size_t rows", "size_t cols"]


def api_proto(op):
    params = [i.c_param() for i in api_items(op)]
    if op.kind in ("reduce", "colreduce"):
        params += ["kr_tensor *scal", "size_t slot"]
    return f"kr_status kr_op_{op.name}({', '.join(params)})"


def seg_proto(op):
    """A reduction's segmented form: segs equal row blocks of `over`, block s into
    scal[slot + s * stride ..] (ops.h)."""
    params = [i.c_param() for i in api_items(op)]
    params += ["size_t segs", "kr_tensor *scal", "size_t slot", "size_t stride"]
    return f"kr_status kr_op_{op.name}_seg({', '.join(params)})"


def loop_params(op):
    params = ["kr_dtype dt"] + loop_head(op) + [i.loop_param() for i in down_items(op)]
    if op.kind in ("reduce", "colreduce"):
        params.append("double *vals")
    return params


def wrap(prefix, parts, indent, lead=""):
    """lead + prefix(a, b, c), broken at 100 columns with continuation lines aligned."""
    out, line = [], lead + prefix + "("
    indent += len(lead)
    for k, p in enumerate(parts):
        piece = p + (", " if k < len(parts) - 1 else ")")
        if len(line) + len(piece.rstrip()) > 99 and line.strip() != prefix.strip() + "(":
            out.append(line.rstrip())
            line = " " * indent
        line += piece
    out.append(line)
    return "\n".join(out)


HEADER = "/* Generated by src/device/gen_ops.py from src/device/ops.def: do not edit. */\n"


def gen_api(ops):
    out = [HEADER, "#ifndef KR_OPS_API_H\n#define KR_OPS_API_H\n",
           "#include <stdbool.h>\n#include <stddef.h>\n",
           '#include "base/model.h" /* kr_act */\n#include "device/tensor.h"\n']
    for op in ops:
        out.append("/* " + "\n * ".join(op.doc) + " */" if op.doc else f"/* kr_op_{op.name} */")
        for proto in [api_proto(op)] + ([seg_proto(op)] if op.kind == "reduce" else []):
            head, _, args = proto.partition("(")
            out.append(wrap(head, args[:-1].split(", "), len(head) + 1) + ";\n")
    out.append("#endif")
    return "\n".join(out) + "\n"


def gen_ids(ops):
    out = [HEADER, "#ifndef KR_OPS_GEN_H\n#define KR_OPS_GEN_H\n",
           "#include <stdbool.h>\n#include <stddef.h>\n",
           '#include "base/model.h" /* kr_act */\n#include "device/device.h" /* kr_dtype */\n',
           "/* One kernel of cl/ops.cl per op of ops.def, in list order, then the second stage of",
           " * every reduction. The kernel of op NAME is \"ops_NAME\". */",
           "typedef enum kr_kernel_id {"]
    for k, op in enumerate(ops):
        out.append(f"    KR_K_{op.name.upper()}{' = 0' if k == 0 else ''},")
    out += ["    KR_K_REDUCE_FINISH,", "    KR_K_COUNT", "} kr_kernel_id;", "",
            "extern const char *const kr_kernel_names[KR_K_COUNT];", "",
            "/* The host loops, by element type (ops_host.c); validated pointers at element (0, 0)"
            " of",
            " * contiguous buffers, outputs may alias inputs element for element. */"]
    for op in ops:
        out.append(wrap(f"void kr_host_{op.name}", loop_params(op), len(op.name) + 14) + ";")
    out.append("\n#endif")
    return "\n".join(out) + "\n"


def gen_host(ops):
    out = [HEADER]
    for op in ops:
        head = "void kr_host_" + op.name
        out.append(wrap(head, loop_params(op), len(head) + 1))
        args = ", ".join([p.split()[-1].lstrip("*") for p in loop_params(op)[1:]])
        out += ["{", f"    if (dt == KR_F64) kr_{op.name}_f64({args});",
                f"    else kr_{op.name}_f32({args});", "}", ""]
    return "\n".join(out)


def gen_ops(ops):
    out = [HEADER, '#include "device/ops.h"', "", "#include <math.h>", "",
           '#include "device/ops_gen.h"', '#include "device/ops_run.h"', "",
           "const char *const kr_kernel_names[KR_K_COUNT] = {"]
    for op in ops:
        out.append(f'    [KR_K_{op.name.upper()}] = "ops_{op.name}",')
    out += ['    [KR_K_REDUCE_FINISH] = "ops_reduce_finish",', "};", ""]
    for op in ops:
        o, K = op.over, op.nvals
        body = []
        body.append(f'    static const char op[] = "kr_op_{op.name}";')
        body.append(f'    KR_TRY(kr_ops_check_like(op, "{o}", {o}, NULL));')
        for t in op.tensors:
            if t.name == o:
                continue
            guard = f"if ({t.name}) " if t.optional else ""
            if t.row:
                shape = f"1, {o}->cols" if t.row == "row" else f"{o}->rows, 1"
                body.append(f'    {guard}KR_TRY(kr_ops_check_like(op, "{t.name}", {t.name}, {o}));')
                body.append(f'    {guard}KR_TRY(kr_ops_check_shape(op, "{t.name}", {t.name}, '
                            f'{shape}));')
            else:
                body.append(f'    {guard}KR_TRY(kr_ops_check_same(op, "{t.name}", {t.name}, {o}));')
        for expr, msg in op.checks:
            fmt, args = msg
            body.append(f"    if (!({expr}))")
            body.append(wrap("return KR_FAIL", ["KR_E_INVALID", f'"%s: " {fmt}', "op"] +
                             [a.strip() for a in args.split(",")], 15, lead="        ") + ";")
        if op.kind == "reduce":
            body.append(f"    KR_TRY(kr_ops_check_segs(op, {o}, segs, scal, slot, stride, {K}));")
        elif op.kind == "colreduce":
            body.append(f"    KR_TRY(kr_ops_check_scal(op, scal, {o}, slot, {K}));")
        for i in op.items:
            if i.expr is not None:
                body.append(f"    const double {i.name} = {i.expr};")
        body.append(f"    const size_t rows = {o}->rows, cols = {o}->cols;")
        if op.kind in ("map", "reduce"):
            body.append("    const size_t n = rows * cols;")
        empty = {"map": "n == 0", "reduce": "n == 0", "rows": "rows * cols == 0",
                 "rowreduce": "rows == 0", "cols": "cols == 0",
                 "colreduce": "rows * cols == 0"}[op.kind]
        if op.kind == "colreduce":
            body.append(f"    if ({empty}) return kr_ops_zero_slots(scal, slot, {K});")
        elif op.kind == "reduce":
            body.append(f"    if ({empty}) {{")
            body.append("        for (size_t seg = 0; seg < segs; seg++)")
            body.append(f"            KR_TRY(kr_ops_zero_slots(scal, slot + seg * stride, {K}));")
            body.append("        return KR_OK;")
            body.append("    }")
            body.append("    const size_t segn = n / segs;")
        else:
            body.append(f"    if ({empty}) return KR_OK;")
        head = ["n"] if op.kind in ("map", "reduce") else ["rows", "cols"]
        if op.kind == "reduce":
            hargs = ["segn"] + [f"kr_ops_ptr_at({i.name}, seg * segn)" if i.tensor else i.name
                                for i in down_items(op)]
        else:
            hargs = head + [f"kr_ops_ptr({i.name})" if i.tensor else i.name
                            for i in down_items(op)]
        body.append(f"    kr_ops_count({o}->dev);")
        body.append(f"    if (!kr_ops_is_cl({o})) {{")
        if op.kind == "colreduce":
            body.append(f"        double vals[{K}] = {{0}};")
            hargs.append("vals")
            body.append(wrap(f"kr_host_{op.name}", [f"{o}->dtype"] + hargs, len(op.name) + 9,
                             lead="        ") + ";")
            body.append(f"        kr_ops_store(scal, slot, vals, {K});")
        elif op.kind == "reduce":
            body.append("        for (size_t seg = 0; seg < segs; seg++) {")
            body.append(f"            double vals[{K}] = {{0}};")
            hargs.append("vals")
            body.append(wrap(f"kr_host_{op.name}", [f"{o}->dtype"] + hargs, len(op.name) + 13,
                             lead="            ") + ";")
            body.append(f"            kr_ops_store(scal, slot + seg * stride, vals, {K});")
            body.append("        }")
        else:
            body.append(wrap(f"kr_host_{op.name}", [f"{o}->dtype"] + hargs, len(op.name) + 9,
                             lead="        ") + ";")
        body.append("        return KR_OK;")
        body.append("    }")
        tnames = ", ".join(t.name for t in op.tensors)
        body.append(f"    const kr_tensor *const tensors[] = {{{tnames}}};")
        body.append(f"    const kr_tensor *standin = kr_ops_standin(tensors, "
                    f"{len(op.tensors)});")
        kid = f"KR_K_{op.name.upper()}"
        body.append("    kr_ops_args launch;")
        body.append(f"    KR_TRY(kr_ops_args_begin({o}->dev, {o}->dtype, {kid}, &launch));")
        for h in head + (["segn"] if op.kind == "reduce" else []):
            body.append(f"    kr_ops_arg_ulong(&launch, {h});")
        for i in down_items(op):
            if i.tensor:
                if i.optional:
                    body.append(f"    kr_ops_arg_int(&launch, {i.name} != NULL);")
                body.append(f"    kr_ops_arg_tensor(&launch, {i.name}, standin);")
            elif i.kind == "real":
                body.append(f"    kr_ops_arg_real(&launch, {i.name});")
            else:
                body.append(f"    kr_ops_arg_int(&launch, (int){i.name});")
        if op.kind == "reduce":
            body.append(wrap("return kr_ops_reduce", [f"{o}->dev", "&launch", kid, "n", "segs",
                                                      str(K), "scal", "slot", "stride", "op"],
                             25, lead="    ") + ";")
        elif op.kind == "colreduce":  # one item per column: a reduction over the cols items
            body.append(wrap("return kr_ops_reduce", [f"{o}->dev", "&launch", kid, "cols", "1",
                                                      str(K), "scal", "slot", "0", "op"],
                             25, lead="    ") + ";")
        elif op.kind == "rowreduce":
            body.append(f"    return kr_ops_launch_rowreduce({o}->dev, &launch, {kid}, rows, op);")
        else:
            items = {"map": "n", "rows": "rows * cols", "cols": "cols"}[op.kind]
            body.append(f"    return kr_ops_launch({o}->dev, &launch, {kid}, {items}, op);")
        proto = seg_proto(op) if op.kind == "reduce" else api_proto(op)
        fhead, _, args = proto.partition("(")
        out.append(wrap(fhead, args[:-1].split(", "), len(fhead) + 1))
        out += ["{"] + body + ["}", ""]
        if op.kind == "reduce":  # the plain form: one segment
            proto = api_proto(op)
            fhead, _, args = proto.partition("(")
            names = [i.name for i in api_items(op)] + ["1", "scal", "slot", "0"]
            out.append(wrap(fhead, args[:-1].split(", "), len(fhead) + 1))
            out += ["{", wrap(f"return kr_op_{op.name}_seg", names, 20 + len(op.name),
                              lead="    ") + ";", "}", ""]
    return "\n".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_ops.py OPS_DEF OUTDIR")
    ops = parse(sys.argv[1])
    files = {"ops_api.h": gen_api(ops), "ops_gen.h": gen_ids(ops), "ops_gen.c": gen_ops(ops),
             "ops_host_gen.inc": gen_host(ops)}
    for name, text in files.items():
        with open(os.path.join(sys.argv[2], name), "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
