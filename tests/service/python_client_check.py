"""Checks bagel-coordinator with a gRPC client nobody here wrote (PyPI grpcio,
grpcio-health-checking, grpcio-reflection): health, reflection, and JobService calls made from the
descriptors that reflection serves -- no generated code of ours. Test-only; run by
python_client_test.sh."""
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def reflect(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    services = [s.name for r in stub.ServerReflectionInfo(iter([
        reflection_pb2.ServerReflectionRequest(list_services="")]))
        for s in r.list_services_response.service]
    pool = descriptor_pool.DescriptorPool()
    seen = set()
    pending = []
    for r in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="bagel.v1.JobService")])):
        pending.extend(r.file_descriptor_response.file_descriptor_proto)
    protos = {}
    while pending:
        raw = pending.pop()
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        if fd.name in protos:
            continue
        protos[fd.name] = fd
        for dep in fd.dependency:
            if dep not in protos:
                for r in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
                        file_by_filename=dep)])):
                    pending.extend(r.file_descriptor_response.file_descriptor_proto)

    def add(name):
        if name in seen:
            return
        for dep in protos[name].dependency:
            add(dep)
        pool.Add(protos[name])
        seen.add(name)

    for name in list(protos):
        add(name)
    return services, pool


def call(channel, pool, method, request_fields, token):
    svc = pool.FindServiceByName("bagel.v1.JobService")
    m = svc.FindMethodByName(method)
    req_cls = message_factory.GetMessageClass(m.input_type)
    resp_cls = message_factory.GetMessageClass(m.output_type)
    rpc = channel.unary_unary("/bagel.v1.JobService/" + method,
                              request_serializer=req_cls.SerializeToString,
                              response_deserializer=resp_cls.FromString)
    metadata = [("authorization", "Bearer " + token)] if token else []
    return rpc(req_cls(**request_fields), metadata=metadata, timeout=10)


def expect_code(fn, code, contains=""):
    try:
        fn()
    except grpc.RpcError as e:
        assert e.code() == code, f"expected {code}, got {e.code()}: {e.details()}"
        assert contains in e.details(), f"{contains!r} not in {e.details()!r}"
        return
    raise AssertionError(f"expected {code}, the call succeeded")


def main():
    target, token, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    channel = grpc.insecure_channel(target)
    health = health_pb2_grpc.HealthStub(channel)
    if mode == "drain":
        # After SIGTERM: NOT_SERVING must be seen before the server goes away.
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                r = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if r.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    print("health: NOT_SERVING while draining")
                    return 0
            except grpc.RpcError as e:
                print(f"server gone before NOT_SERVING was seen: {e.code()}")
                return 1
            time.sleep(0.02)
        return 1

    r = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert r.status == health_pb2.HealthCheckResponse.SERVING, r
    services, pool = reflect(channel)
    for s in ("bagel.v1.JobService", "bagel.v1.WorkerService", "bagel.v1.ClusterService",
              "grpc.health.v1.Health"):
        assert s in services, (s, services)
    print("reflection lists:", ", ".join(sorted(services)))

    good = ("model: {stage: 1, init_from: {preset: tiny}}\n"
            "data: {groups: [{name: demo, type: demo}]}\ntrain: {steps: 5}\n")
    expect_code(lambda: call(channel, pool, "SubmitJob", {"spec_yaml": good.encode()}, ""),
                grpc.StatusCode.UNAUTHENTICATED)
    expect_code(lambda: call(channel, pool, "SubmitJob",
                             {"spec_yaml": good.replace("steps: 5", "steps: -5").encode()}, token),
                grpc.StatusCode.INVALID_ARGUMENT, "train.steps: got -5")
    expect_code(lambda: call(channel, pool, "GetJob", {"job_id": "j-nope"}, token),
                grpc.StatusCode.NOT_FOUND)
    resp = call(channel, pool, "SubmitJob", {"spec_yaml": good.encode(), "request_id": "py-1"}, token)
    job_id = resp.job.id
    again = call(channel, pool, "SubmitJob", {"spec_yaml": good.encode(), "request_id": "py-1"}, token)
    assert again.job.id == job_id and again.existing
    got = call(channel, pool, "GetJob", {"job_id": job_id}, token)
    assert got.state == pool.FindEnumTypeByName("bagel.v1.JobState").values_by_name["PENDING"].number
    listed = call(channel, pool, "ListJobs", {"page_size": 10}, token)
    assert [j.id for j in listed.jobs] == [job_id]
    cancelled = call(channel, pool, "CancelJob", {"job_id": job_id}, token)
    print("submitted, read, listed and cancelled", job_id, "state", cancelled.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
