// The cost oracle: prints what Kubernetes' CEL (cel-go under k8s.io/apiserver's base environment,
// the options a ValidatingAdmissionPolicy's expressions get) charges for each expression of a case
// file, so that daemonguard's tests can assert the same units without needing Go. See README.md.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"

	"github.com/google/cel-go/cel"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/cel/environment"
)

// caseFile is the input: the variables' JSON values, and the expressions to price.
type caseFile struct {
	Inputs      map[string]any `json:"inputs"`
	Expressions []string       `json:"expressions"`
}

// result is one expression's outcome: its cost, and its value or its error.
type result struct {
	Expression string `json:"expression"`
	Cost       uint64 `json:"cost"`
	Value      any    `json:"value,omitempty"`
	Error      string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cel-cost-oracle CASES.json  (prints the costs as JSON on stdout)")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var cases caseFile
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	if err := decoder.Decode(&cases); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	base := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	// As a ValidatingAdmissionPolicy's environment is made (admission/plugin/cel/compile.go), with
	// `request` as dyn: a select costs the same on a declared type.
	extended, err := base.Extend(
		environment.VersionedOptions{
			IntroducedVersion: version.MajorMinor(1, 0),
			EnvOptions: []cel.EnvOption{
				cel.Variable("object", cel.DynType),
				cel.Variable("oldObject", cel.DynType),
				cel.Variable("request", cel.DynType),
			},
		},
		environment.StrictCostOpt,
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env := extended.StoredExpressionsEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// JSON numbers as the apiserver's unstructured objects hold them: integers as int64.
	for name, value := range cases.Inputs {
		cases.Inputs[name] = integers(value)
	}
	results := make([]result, 0, len(cases.Expressions))
	for _, expression := range cases.Expressions {
		results = append(results, evaluate(env, expression, cases.Inputs))
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func evaluate(env *cel.Env, expression string, inputs map[string]any) result {
	ast, issues := env.Compile(expression)
	if issues != nil && issues.Err() != nil {
		fmt.Fprintf(os.Stderr, "%q does not compile: %v\n", expression, issues.Err())
		os.Exit(1)
	}
	program, err := env.Program(ast, cel.InterruptCheckFrequency(100))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%q: %v\n", expression, err)
		os.Exit(1)
	}
	value, details, err := program.Eval(inputs)
	r := result{Expression: expression}
	if details != nil && details.ActualCost() != nil {
		r.Cost = *details.ActualCost()
	}
	if err != nil {
		r.Error = err.Error()
	} else {
		// As JSON, the way the value would be written into a response (lists and maps converted).
		native, convertErr := value.ConvertToNative(reflect.TypeFor[*structpb.Value]())
		if convertErr != nil {
			r.Value = value.Type().TypeName()
		} else {
			r.Value = native.(*structpb.Value).AsInterface()
		}
	}
	return r
}

// integers converts json.Number values to int64 where they are integers and to float64 otherwise.
func integers(value any) any {
	switch v := value.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for key, member := range v {
			v[key] = integers(member)
		}
	case []any:
		for i, element := range v {
			v[i] = integers(element)
		}
	}
	return value
}
