// A small ONNX graph writer for the training-step graph: named nodes with one output each, float
// and int64 constants, graph inputs and outputs with their shapes. Kept apart from the prefix
// exporter's writer because a training graph has many inputs and outputs (weights, optimizer state).
import protos from 'onnx-proto'

const { onnx } = protos

/**
 * Opset 16: ReduceSum, Unsqueeze, Slice and Split take their axes as inputs; ReduceMean as
 * attribute; ScatterElements adds (max pooling's backward, where windows overlap).
 */
const OPSET = 16
const IR_VERSION = 7

export type Dims = readonly (number | null)[]
type Attribute = number | string | number[]
type NodeProto = InstanceType<typeof onnx.NodeProto>
type TensorProto = InstanceType<typeof onnx.TensorProto>
type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>

export const FLOAT = onnx.TensorProto.DataType.FLOAT
export const INT64 = onnx.TensorProto.DataType.INT64

export class OnnxGraph {
  private readonly nodes: NodeProto[] = []
  private readonly initializers: TensorProto[] = []
  private readonly inputs: ValueInfoProto[] = []
  private readonly outputs: ValueInfoProto[] = []
  private readonly floats = new Map<string, string>()
  /** Values renamed to a graph output's name: nodes added later that read them read the new name. */
  private readonly renamed = new Map<string, string>()
  /** Operator domains besides ONNX's own that nodes use (each imported at version 1). */
  private readonly domains = new Set<string>()
  private count = 0

  /**
   * Adds one node; returns the name of its (single) output. `hint` makes the graph readable when
   * debugging; `domain` names an operator set other than ONNX's (onnxruntime's NCHWc kernels).
   */
  node(opType: string, input: string[], attributes: Record<string, Attribute> = {}, hint = '', domain = ''): string {
    const output = `${hint || opType.toLowerCase()}_${this.count++}`
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value))
    if (domain) this.domains.add(domain)
    this.nodes.push(onnx.NodeProto.create({ opType, domain, input: this.read(input), output: [output], name: output, attribute }))
    return output
  }

  /** A node with several outputs (Split); returns their names. */
  nodeN(opType: string, input: string[], outputs: number, attributes: Record<string, Attribute> = {}): string[] {
    const names = Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}_${this.count}_${i}`)
    this.count++
    const attribute = Object.entries(attributes).map(([name, value]) => attributeProto(name, value))
    this.nodes.push(onnx.NodeProto.create({ opType, input: this.read(input), output: names, name: names[0], attribute }))
    return names
  }

  /**
   * The nodes something reads, directly or through others, up to the graph's outputs: onnxruntime
   * runs a node nobody reads (a layout Transpose a later layer chose not to use) all the same.
   */
  private live(): NodeProto[] {
    const needed = new Set(this.outputs.map((o) => o.name))
    const kept: NodeProto[] = []
    for (const node of [...this.nodes].reverse()) {
      if (!node.output.some((o) => needed.has(o))) continue
      kept.push(node)
      for (const i of node.input) needed.add(i)
    }
    return kept.reverse()
  }

  private read(input: string[]): string[] {
    return input.map((i) => this.renamed.get(i) ?? i)
  }

  /** A float32 constant; scalars are shared by value so the graph does not repeat them. */
  float(values: ArrayLike<number>, dims: readonly number[] = [values.length]): string {
    const key = dims.length === 0 ? String(values[0]) : ''
    if (key && this.floats.has(key)) return this.floats.get(key)!
    const name = `const_${this.count++}`
    const data = Float32Array.from(values as ArrayLike<number>)
    this.initializers.push(
      onnx.TensorProto.create({ name, dims: [...dims], dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) })
    )
    if (key) this.floats.set(key, name)
    return name
  }

  scalar(value: number): string {
    return this.float([value], [])
  }

  int64(values: number[]): string {
    const name = `const_${this.count++}`
    this.initializers.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, int64Data: values }))
    return name
  }

  bool(value: boolean): string {
    const name = `const_${this.count++}`
    this.initializers.push(onnx.TensorProto.create({ name, dims: [], dataType: onnx.TensorProto.DataType.BOOL, int32Data: [value ? 1 : 0] }))
    return name
  }

  input(name: string, dims: Dims, type = FLOAT): string {
    this.inputs.push(valueInfo(name, dims, type))
    return name
  }

  /**
   * Names `value` as a graph output. A value a node here produced is renamed where it is made and
   * read: an Identity would copy it every run (the weights and optimizer state, each step). Any
   * other value (a graph input, a constant, a value already named as an output) goes through one.
   */
  output(name: string, value: string, dims: Dims, type = FLOAT): void {
    const source = this.renamed.get(value) ?? value
    const producer = this.renamed.has(value) ? undefined : this.nodes.find((n) => n.output.includes(value))
    if (producer) {
      this.renamed.set(value, name)
      for (const node of this.nodes) {
        node.output = node.output.map((o) => (o === value ? name : o))
        node.input = node.input.map((i) => (i === value ? name : i))
      }
    } else {
      this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [source], output: [name], name }))
    }
    this.outputs.push(valueInfo(name, dims, type))
  }

  /**
   * The graph as the body of a Scan over the first axis of the `perStep` inputs: one run then takes
   * several steps, each reading its row of them, with every `carried` input taking the previous
   * step's output (the weights and optimizer state). onnxruntime-node copies each output of a run
   * into a fresh JavaScript buffer, the ones it wrote into ours included: for ResNet50's conv5 that
   * is 180 MB a step. A scan pays it once a run. Other inputs are read by every step unchanged;
   * `scanned` outputs come out stacked, one row a step.
   */
  encodeScan(
    graphName: string,
    spec: { perStep: readonly string[]; carried: readonly { input: string; output: string }[]; scanned: readonly string[] }
  ): Uint8Array {
    // The body's values must not shadow the outer graph's names.
    const rename = new Map<string, string>()
    for (const p of spec.perStep) rename.set(p, `${p}@step`)
    for (const c of spec.carried) {
      rename.set(c.input, `${c.input}@in`)
      rename.set(c.output, `${c.output}@out`)
    }
    for (const s of spec.scanned) rename.set(s, `${s}@out`)
    const mapped = (names: string[]) => names.map((n) => rename.get(n) ?? n)
    const inputInfo = (name: string) => this.inputs.find((i) => i.name === name) ?? missing(name)
    const outputInfo = (name: string) => this.outputs.find((o) => o.name === name) ?? missing(name)
    const body = onnx.GraphProto.create({
      name: `${graphName}_body`,
      node: this.live().map((n) => onnx.NodeProto.create({ ...n, input: mapped(n.input), output: mapped(n.output) })),
      initializer: this.initializers,
      input: [...spec.carried.map((c) => c.input), ...spec.perStep].map((name) => renamed(inputInfo(name), rename.get(name)!)),
      output: [...spec.carried.map((c) => c.output), ...spec.scanned].map((name) => renamed(outputInfo(name), rename.get(name)!))
    })
    const perStep = new Set(spec.perStep)
    const scan = onnx.NodeProto.create({
      opType: 'Scan',
      input: [...spec.carried.map((c) => c.input), ...spec.perStep],
      output: [...spec.carried.map((c) => c.output), ...spec.scanned],
      name: 'scan',
      attribute: [
        onnx.AttributeProto.create({ name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: body }),
        attributeProto('num_scan_inputs', spec.perStep.length)
      ]
    })
    const graph = onnx.GraphProto.create({
      name: graphName,
      node: [scan],
      input: this.inputs.map((i) => (perStep.has(i.name) ? renamed(i, i.name, 'steps') : i)),
      output: [...spec.carried.map((c) => outputInfo(c.output)), ...spec.scanned.map((s) => renamed(outputInfo(s), s, 'steps'))]
    })
    return this.model(graph)
  }

  encode(graphName: string): Uint8Array {
    const graph = onnx.GraphProto.create({ name: graphName, node: this.live(), initializer: this.initializers, input: this.inputs, output: this.outputs })
    return this.model(graph)
  }

  private model(graph: InstanceType<typeof onnx.GraphProto>): Uint8Array {
    const opsetImport = [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))]
    const model = onnx.ModelProto.create({ irVersion: IR_VERSION, producerName: 'transfer-studio', opsetImport, graph })
    return onnx.ModelProto.encode(model).finish()
  }
}

function missing(name: string): never {
  throw new Error(`The graph has no input or output ${name}`)
}

/** The same value's type under another name, with a leading dimension `leading` when given. */
function renamed(info: ValueInfoProto, name: string, leading?: string): ValueInfoProto {
  const tensorType = info.type!.tensorType!
  const dim = [...(leading ? [{ dimParam: leading }] : []), ...(tensorType.shape?.dim ?? [])]
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: tensorType.elemType, shape: { dim } } } })
}

function valueInfo(name: string, dims: Dims, elemType: number): ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (d === null ? { dimParam: 'batch' } : { dimValue: d })) } } }
  })
}

/** Float attributes are named here: an integral epsilon or alpha must still be written as a float. */
const FLOAT_ATTRIBUTES = new Set(['epsilon', 'alpha', 'beta', 'ratio', 'momentum'])
const FLOAT_LIST_ATTRIBUTES = new Set(['activation_params'])

function attributeProto(name: string, value: Attribute) {
  const { AttributeType } = onnx.AttributeProto
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) })
  if (Array.isArray(value) && FLOAT_LIST_ATTRIBUTES.has(name)) return onnx.AttributeProto.create({ name, type: AttributeType.FLOATS, floats: value })
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value })
  if (Number.isInteger(value) && !FLOAT_ATTRIBUTES.has(name)) return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value })
  return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value })
}
